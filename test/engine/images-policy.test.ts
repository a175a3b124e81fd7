/**
 * Table-driven tests for Flux ImagePolicy semantics. The cases (test/fixtures/images/cases.json)
 * are Masterminds' and Flux's own test tables plus edge cases; every expected value was computed
 * by the real Go code (bench/peers/policy/oracle: Masterminds/semver v3.5.0, fluxcd/pkg/version,
 * Go's regexp and strconv), see test/fixtures/images/make-cases.py.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { isGitopsError } from "../../engine/errors";
import {
    compileGoRegexp, Constraints, expandTemplate, newVersion, parseGoFloat, parseVersion, selectTag, Version,
} from "../../engine/images";

interface Case {
    kind: "select" | "regexp" | "float" | "check";
    name: string;
    policy?: any;
    filter?: any;
    tags?: string[];
    pattern?: string;
    extract?: string;
    range?: string;
    inputs?: string[];
    want: any;
}

const cases: Case[] = JSON.parse(fs.readFileSync(path.join(__dirname, "../fixtures/images/cases.json"), "utf8"));

function versionString(v: Version): string {
    return `${v.major}.${v.minor}.${v.patch}${v.pre ? "-" + v.pre : ""}${v.metadata ? "+" + v.metadata : ""}`;
}

function goFloat(s: string): number {
    if (s === "+Inf") return Infinity;
    if (s === "-Inf") return -Infinity;
    if (s === "NaN") return NaN;
    return Number(s);
}

describe("images: policy semantics match Flux (cases computed by the Go oracle)", () => {
    it("has cases of every kind", () => {
        for (const k of ["select", "regexp", "float", "check"]) {
            assert.ok(cases.filter((c) => c.kind === k).length > 0, k);
        }
    });

    describe("semver ranges (Masterminds' tables and more)", () => {
        for (const c of cases.filter((x) => x.kind === "check")) {
            it(c.name, () => {
                let cons: Constraints;
                try {
                    cons = Constraints.parse(c.range!);
                } catch (err) {
                    assert.ok(c.want.error, `range ${JSON.stringify(c.range)} rejected but Go accepts it: ${(err as Error).message}`);
                    return;
                }
                assert.ok(!c.want.error, `range ${JSON.stringify(c.range)} accepted but Go says: ${c.want.error}`);
                c.inputs!.forEach((input, i) => {
                    const want = c.want.results[i];
                    const v = newVersion(input);
                    assert.strictEqual(parseVersion(input) !== undefined, want.fluxParses, `ParseVersion(${JSON.stringify(input)})`);
                    if (want.invalid) {
                        assert.strictEqual(v, undefined, `NewVersion(${JSON.stringify(input)}) should fail`);
                        return;
                    }
                    assert.ok(v, `NewVersion(${JSON.stringify(input)}) should parse`);
                    assert.strictEqual(versionString(v!), want.version);
                    assert.strictEqual(cons.check(v!), want.check, `${JSON.stringify(c.range)}.Check(${JSON.stringify(input)})`);
                });
            });
        }
    });

    describe("tag selection (Flux's policy tests and more)", () => {
        for (const c of cases.filter((x) => x.kind === "select")) {
            it(c.name, () => {
                if (c.want.tag !== undefined) {
                    assert.strictEqual(selectTag(c.policy, c.filter, c.tags ?? []), c.want.tag);
                } else {
                    assert.throws(() => selectTag(c.policy, c.filter, c.tags ?? []), (e: unknown) => isGitopsError(e), `Go fails with: ${c.want.error}`);
                }
            });
        }
    });

    describe("Go regexp (RE2 on re2js) and Expand", () => {
        for (const c of cases.filter((x) => x.kind === "regexp")) {
            it(c.name, () => {
                if (c.want.error) {
                    assert.throws(() => compileGoRegexp(c.pattern!), (e: Error) => e.message === c.want.error, `want error ${c.want.error}`);
                    return;
                }
                const re = compileGoRegexp(c.pattern!);
                assert.deepStrictEqual(re.names, c.want.names);
                c.inputs!.forEach((input, i) => {
                    const want = c.want.matches[i];
                    const m = re.exec(input);
                    const what = `${JSON.stringify(c.pattern)} on ${JSON.stringify(input)} `;
                    if (want === null) {
                        assert.strictEqual(m, null, what);
                        return;
                    }
                    assert.ok(m, what);
                    assert.deepStrictEqual([...m!].map((g) => g ?? null), want.groups, what);
                    if (c.extract) assert.strictEqual(expandTemplate(re, c.extract, m!), want.expanded, `${what} expand ${c.extract}`);
                });
            });
        }
    });

    describe("strconv.ParseFloat", () => {
        for (const c of cases.filter((x) => x.kind === "float")) {
            c.inputs!.forEach((input, i) => {
                it(JSON.stringify(input), () => {
                    const want = c.want[i];
                    const got = parseGoFloat(input);
                    if (!want.ok) assert.strictEqual(got, undefined);
                    else assert.ok(Object.is(got, goFloat(want.value)), `got ${got}, want ${want.value}`);
                });
            });
        }
    });
});
