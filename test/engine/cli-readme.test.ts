/**
 * The README's CLI table is the command list: every row names a command that exists and answers
 * `--help` with exit 0, every flag a row shows is in that command's help, and every command that
 * bin/gitops (a real process) lists has a row. (The README's ```sh examples run in
 * test/unit/docs.test.ts, as written.)
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { main } from "../../engine/cli";

const ROOT = path.resolve(__dirname, "../..");
const GITOPS = path.join(ROOT, "bin", "gitops");

function gitops(args: string[]) {
    return spawnSync(process.execPath, [GITOPS, ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
}

/** The first cells of the table in "## The `gitops` CLI", one command text per row. */
export function readmeCommands(readme: string): string[] {
    const section = readme.slice(readme.indexOf("## The `gitops` CLI"));
    const table = section.slice(0, section.indexOf("\n## ")).split("\n").filter((l) => l.startsWith("| `gitops "));
    return table.flatMap((row) => [...row.split(" | ")[0].matchAll(/`(gitops [^`]+)`/g)].map((m) => m[1].replace(/\\\|/g, "|")));
}

/** Command words of a row: `gitops cluster apply|diff` -> [["cluster","apply"],["cluster","diff"]]. */
export function commandPaths(row: string): string[][] {
    const words: string[] = [];
    for (const w of row.split(/\s+/).slice(1)) {
        if (!/^[a-z][a-z|-]*$/.test(w) || w.startsWith("-")) break;
        words.push(w);
    }
    const alts = words.map((w) => w.split("|"));
    // Only the last word may list alternatives (`apply|diff|health|wait`); `get [all|ks...]` stops at "[".
    return alts.length && alts[alts.length - 1].length > 1 ? alts[alts.length - 1].map((a) => [...words.slice(0, -1), a]) : [words];
}

describe("README: the CLI table runs as written", function () {
    this.timeout(300_000);
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const rows = readmeCommands(readme);

    it("parses the table", () => {
        assert.ok(rows.length >= 14, `only ${rows.length} rows: ${rows.join("; ")}`);
        assert.deepStrictEqual(commandPaths("gitops cluster apply|diff|health|wait"), [["cluster", "apply"], ["cluster", "diff"], ["cluster", "health"], ["cluster", "wait"]]);
        assert.deepStrictEqual(commandPaths("gitops get [all|ks|sources|hr|images] [-A]"), [["get"]]);
    });

    it("every row's command answers --help (exit 0) and its help lists the row's flags", async () => {
        for (const row of rows) {
            for (const words of commandPaths(row)) {
                let out = "";
                let err = "";
                const code = await main([...words, "--help"], { out: (t) => void (out += t), err: (t) => void (err += t) });
                assert.strictEqual(code, 0, `${row}: gitops ${words.join(" ")} --help exited ${code}: ${err}`);
                assert.match(out, /^Usage:/, row);
                for (const flag of row.match(/--[a-z][a-z-]*/g) ?? []) {
                    if (flag === "--help") continue;
                    assert.ok(out.includes(flag), `${row}: 'gitops ${words.join(" ")} --help' does not mention ${flag}`);
                }
            }
        }
    });

    it("every registered command has a row", () => {
        const r = gitops(["--help"]);
        assert.strictEqual(r.status, 0);
        const registered = [...r.stdout.matchAll(/^ {2}gitops ((?:[a-z-]+ ?)+?) {2,}/gm)].map((m) => m[1].trim());
        assert.ok(registered.length >= 17, r.stdout);
        const documented = new Set(rows.flatMap((row) => commandPaths(row).map((w) => w.join(" "))));
        // `gitops suspend ks NAME` / `gitops resume ks NAME` share a row: the first word is the command.
        for (const row of rows) documented.add(row.split(/\s+/)[1]);
        for (const c of registered) assert.ok(documented.has(c) || documented.has(c.split(" ")[0]), `'gitops ${c}' is registered but has no row in the README's CLI table`);
    });
});
