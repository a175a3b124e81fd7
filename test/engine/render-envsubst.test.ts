/**
 * envsubst: table-driven cases ported from fluxcd/pkg envsubst (eval_test.go TestExpand,
 * TestExpandStrict, funcs_test.go, parse/parse_test.go), as data with their expected outputs,
 * plus a few of our own for edges of the escape and error rules.
 */
import * as assert from "assert";
import { envsubst, EnvsubstError } from "../../engine/render/envsubst";

interface Case {
    params: Record<string, string>;
    input: string;
    output: string;
}

// fluxcd/pkg envsubst eval_test.go TestExpand (non-strict: unset variables read as "").
const EXPAND: Case[] = [
    { params: {}, input: "abcdEFGH28ij", output: "abcdEFGH28ij" },
    { params: { var01: "abcdEFGH28ij" }, input: "${#var01}", output: "12" },
    { params: { var01: "abcdEFGH28ij" }, input: "${var01^}", output: "AbcdEFGH28ij" },
    { params: { var01: "abcdEFGH28ij" }, input: "${var01^^}", output: "ABCDEFGH28IJ" },
    { params: { var01: "ABCDEFGH28IJ" }, input: "${var01,}", output: "aBCDEFGH28IJ" },
    { params: { var01: "ABCDEFGH28IJ" }, input: "${var01,,}", output: "abcdefgh28ij" },
    { params: { path_name: "/home/bozo/ideas/thoughts.for.today" }, input: "${path_name:11}", output: "ideas/thoughts.for.today" },
    { params: { path_name: "/home/bozo/ideas/thoughts.for.today" }, input: "${path_name:11:5}", output: "ideas" },
    { params: { var: "abc" }, input: "${var=xyz}", output: "abc" },
    { params: {}, input: "${var=xyz}", output: "xyz" },
    { params: { default_var: "foo" }, input: "something ${var=${default_var}}", output: "something foo" },
    { params: { default_var: "foo1" }, input: "foo: ${var=${default_var}-suffix}", output: "foo: foo1-suffix" },
    { params: { default_var: "foo1" }, input: "foo: ${var=prefix${default_var}-suffix}", output: "foo: prefixfoo1-suffix" },
    { params: {}, input: "${var:=xyz}", output: "xyz" },
    { params: { stringZ: "abcABC123ABCabc" }, input: "${stringZ/%abc/XYZ}", output: "abcABC123ABCXYZ" },
    { params: { stringZ: "abcABC123ABCabc" }, input: "${stringZ/#abc/XYZ}", output: "XYZABC123ABCabc" },
    { params: { stringZ: "somevalue" }, input: "${stringZ/#/prefix-}", output: "prefix-somevalue" },
    { params: { stringZ: "somevalue" }, input: "${stringZ/%/-suffix}", output: "somevalue-suffix" },
    { params: { stringZ: "abcABC123ABCabc" }, input: "${stringZ//abc/xyz}", output: "xyzABC123ABCxyz" },
    { params: { stringZ: "abcABC123ABCabc" }, input: "${stringZ/abc/xyz}", output: "xyzABC123ABCabc" },
    { params: { filename: "bash.string.txt" }, input: "${filename#*.}", output: "string.txt" },
    { params: { filename: "path/to/file" }, input: "${filename#*/}", output: "to/file" },
    { params: { filename: "/path/to/file" }, input: "${filename#*/}", output: "path/to/file" },
    { params: { filename: "bash.string.txt" }, input: "${filename##*.}", output: "txt" },
    { params: { filename: "path/to/file" }, input: "${filename##*/}", output: "file" },
    { params: { filename: "/path/to/file" }, input: "${filename##*/}", output: "file" },
    { params: { filename: "bash.string.txt" }, input: "${filename%.*}", output: "bash.string" },
    { params: { filename: "bash.string.txt" }, input: "${filename%%.*}", output: "bash" },
    { params: { var01: "abcdEFGH28ij" }, input: "${var=${var01^^}}", output: "ABCDEFGH28IJ" },
    { params: { var01: "abcdEFGH28ij" }, input: "$${var01}", output: "${var01}" },
    {
        params: { var01: "abcdEFGH28ij" },
        input: "some text ${var01}$${var$${var01}$var01${var01}",
        output: "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
    },
    { params: { default_var: "foo" }, input: "something $${var=${default_var}}", output: "something ${var=foo}" },
    { params: { stringZ: "foo/bar" }, input: "${stringZ/\\//-}", output: "foo-bar" },
    { params: { stringZ: "foo/bar/baz" }, input: "${stringZ//\\//-}", output: "foo-bar-baz" },
    { params: { default_var: "foo" }, input: "\\\\something ${var=${default_var}}", output: "\\\\something foo" },
    { params: { stringZ: "foo.bar" }, input: "${stringZ/./}", output: "foobar" },
];

// fluxcd/pkg envsubst parse_test.go: the text forms (evaluated with no variables) and a sample
// of function forms evaluated against fixed values.
const PARSE_TEXT: Case[] = [
    { params: {}, input: "text", output: "text" },
    { params: {}, input: "}text", output: "}text" },
    { params: {}, input: "http://github.com", output: "http://github.com" },
    { params: {}, input: "$${string}", output: "${string}" },
    { params: {}, input: "$$string", output: "$string" },
    { params: {}, input: "\\\\.\\pipe\\pipename", output: "\\\\.\\pipe\\pipename" },
    { params: { string: "a/positionb" }, input: "${string/\\/position/length}", output: "alengthb" },
    { params: { string: "x/position\\y" }, input: "${string/\\/position\\\\/length}", output: "xlengthy" },
    { params: { string: "position" }, input: "${string/position/\\/length}", output: "/length" },
    { params: { string: "position" }, input: "${string/position/\\/length\\\\}", output: "/length\\" },
    { params: { string: "position" }, input: "${string/position/\\/leng\\\\th}", output: "/leng\\th" },
    { params: { string: "abcdef", position: "2" }, input: "${string:${position}}", output: "cdef" },
    { params: { string: "abc$%:*{def" }, input: "${string#$%:*{}", output: "abc$%:*{def" },
    { params: { string: "$%:x{def" }, input: "${string#$%:*{}", output: "def" },
    { params: { string: "hello" }, input: "hello ${#string} world", output: "hello 5 world" },
    { params: { string: "hello" }, input: "\\\\ hello ${#string} world \\\\", output: "\\\\ hello 5 world \\\\" },
    { params: { string: "prefix-rest", stringz: "prefix-" }, input: "${string#${stringz}}", output: "rest" },
    { params: { stringz: "zz" }, input: "${string=${stringz}}", output: "zz" },
    { params: { var: "V" }, input: "${string=prefix-${var}}", output: "prefix-V" },
    { params: { var: "V" }, input: "${string=${var}-suffix}", output: "V-suffix" },
    { params: { var: "V" }, input: "${string=prefix-${var}-suffix}", output: "prefix-V-suffix" },
    { params: { var: "V" }, input: "${string=prefix${var} suffix}", output: "prefixV suffix" },
    { params: { string: "a.b.c", stringy: ".", stringz: "-" }, input: "${string//${stringy}/${stringz}}", output: "a-b-c" },
    { params: { string: "0123456789", stringy: "xx04yy", stringz: "3" }, input: "${string:${stringy:2:2}:${stringz,,}}", output: "456" },
    { params: { string: "" }, input: "${string:-default}", output: "default" },
    { params: { string: "" }, input: "${string:?default}", output: "default" },
    { params: { string: "" }, input: "${string:+default}", output: "default" },
    { params: { string: "set" }, input: "${string:+default}", output: "set" },
];

// fluxcd/pkg envsubst funcs_test.go, through the template syntax.
const FUNCS: Case[] = [
    { params: { s: "Hello World" }, input: "${#s}", output: "11" },
    { params: { s: "Hello World" }, input: "${s,,}", output: "hello world" },
    { params: { s: "HELLO WORLD" }, input: "${s,}", output: "hELLO WORLD" },
    { params: { s: "" }, input: "${s,}", output: "" },
    { params: { s: "Hello World" }, input: "${s^^}", output: "HELLO WORLD" },
    { params: { s: "hello world" }, input: "${s^}", output: "Hello world" },
    { params: { s: "" }, input: "${s^}", output: "" },
    { params: { s: "Hello World" }, input: "${s:=Hola Mundo}", output: "Hello World" },
    { params: { s: "" }, input: "${s:=Hola Mundo}", output: "Hola Mundo" },
    { params: { s: "123456789123456789" }, input: "${s:0:8}", output: "12345678" },
    { params: { s: "123456789123456789" }, input: "${s:1:8}", output: "23456789" },
    { params: { s: "123456789123456789" }, input: "${s:9}", output: "123456789" },
    { params: { s: "123456789123456789" }, input: "${s:9:50}", output: "123456789" },
    { params: { s: "123456789123456789", o: "-3" }, input: "${s:${o}:2}", output: "78" },
    { params: { s: "123456789123456789", o: "-300" }, input: "${s:${o}:3}", output: "123" },
    { params: { s: "12345678" }, input: "${s:9:1}", output: "" },
    { params: { s: "hello world" }, input: "${s:2:-1}", output: "llo worl" },
    { params: { s: "hello world" }, input: "${s:0:-3}", output: "hello wo" },
    { params: { s: "hello world" }, input: "${s:8:-8}", output: "" },
    { params: { s: "hello world", o: "-4" }, input: "${s:${o}:-1}", output: "orl" },
];

// fluxcd/pkg envsubst eval_test.go TestExpandStrict.
const STRICT_OK: Case[] = [
    { params: {}, input: "abcdEFGH28ij", output: "abcdEFGH28ij" },
    { params: { foo: "bar" }, input: "${foo}", output: "bar" },
    { params: { foo: "" }, input: "${foo}", output: "" },
    { params: { foo: "bar" }, input: "${missing:=default}", output: "default" },
    { params: {}, input: "${missing:-fallback}", output: "fallback" },
    { params: {}, input: "${missing:=assigned}", output: "assigned" },
    { params: {}, input: "${missing=assigned}", output: "assigned" },
];
const STRICT_UNSET = [
    "${missing}",
    "${#missing}",
    "${missing^}",
    "${missing^^}",
    "${missing,}",
    "${missing,,}",
    "${missing:0}",
    "${missing:0:10}",
    "${missing/pattern/replacement}",
    "${missing//pattern/replacement}",
    "${missing/#pattern/replacement}",
    "${missing/%pattern/replacement}",
    "${missing#pattern}",
    "${missing##pattern}",
    "${missing%pattern}",
    "${missing%%pattern}",
];

// Malformed expressions: errors (the Go parser's messages).
const BAD: Array<{ input: string; error: string }> = [
    { input: "${}", error: "unable to parse variable name" },
    { input: "${ var}", error: "unable to parse variable name" },
    { input: "${var", error: "missing closing brace" },
    { input: "${var b}", error: "missing closing brace" },
    { input: "${var-default}", error: "missing closing brace" },
    { input: "${var:}", error: "unable to parse substitution within function" },
    { input: "${var:=x", error: "unable to parse substitution within function" },
    { input: "${#}", error: "bad substitution" },
    { input: "${var^^x}", error: "bad substitution" },
    { input: "${var#}", error: "unable to parse substitution within function" },
    { input: "ok ${a} then ${", error: "unable to parse variable name" },
];

describe("render: envsubst (cases from fluxcd/pkg envsubst)", () => {
    for (const [name, table] of [
        ["TestExpand", EXPAND],
        ["parse_test", PARSE_TEXT],
        ["funcs_test", FUNCS],
    ] as const) {
        describe(name, () => {
            for (const c of table) {
                it(`${c.input} -> ${c.output}`, () => {
                    assert.strictEqual(envsubst(c.input, c.params), c.output);
                });
            }
        });
    }

    describe("TestExpandStrict", () => {
        for (const c of STRICT_OK) {
            it(`${c.input} -> ${c.output}`, () => assert.strictEqual(envsubst(c.input, c.params, true), c.output));
        }
        for (const input of STRICT_UNSET) {
            it(`${input} fails naming 'missing'`, () => {
                assert.throws(
                    () => envsubst(input, {}, true),
                    (e: unknown) => e instanceof EnvsubstError && e.variable === "missing" && /variable not set \(strict mode\): "missing"/.test(e.message),
                );
                // and is "" (or the transform of "") without strict mode
                assert.doesNotThrow(() => envsubst(input, {}, false));
            });
        }
    });

    describe("malformed expressions", () => {
        for (const c of BAD) {
            it(`${JSON.stringify(c.input)} -> ${c.error}`, () => {
                assert.throws(() => envsubst(c.input, { var: "v", a: "A" }), (e: unknown) => e instanceof EnvsubstError && e.message === c.error);
            });
        }
        it("reports the offset of the bad expression", () => {
            const text = "line1\nline2 ${oops\n";
            assert.throws(() => envsubst(text, {}), (e: unknown) => e instanceof EnvsubstError && e.offset === text.indexOf("${"));
        });
    });

    describe("edges", () => {
        it("leaves bare $var and lone $ alone", () => {
            assert.strictEqual(envsubst("$var $ $1 a$", { var: "x" }), "$var $ $1 a$");
        });
        it("collapses $$ pairs left to right", () => {
            assert.strictEqual(envsubst("$$$", {}), "$$");
            assert.strictEqual(envsubst("$$$${x}", { x: "X" }), "$${x}");
            assert.strictEqual(envsubst("a$$${x}", { x: "X" }), "a$X");
        });
        it("does not rescan substituted values", () => {
            assert.strictEqual(envsubst("${a}", { a: "${b}", b: "no" }), "${b}");
        });
        it("counts length in bytes, like Go", () => {
            assert.strictEqual(envsubst("${#s}", { s: "héllo" }), "6");
        });
        it("accepts a Map or a lookup function", () => {
            assert.strictEqual(envsubst("${a}", new Map([["a", "1"]])), "1");
            assert.strictEqual(envsubst("${a}", (k) => (k === "a" ? "2" : undefined)), "2");
        });
        it("is linear: a 4 MB input with 100k expressions and escapes", () => {
            const unit = "k: ${v} $${lit} $$ text\n";
            const text = unit.repeat(100_000);
            const out = envsubst(text, { v: "x" });
            assert.strictEqual(out.length, "k: x ${lit} $ text\n".length * 100_000);
        });
    });
});
