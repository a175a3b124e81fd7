/**
 * Flags that take a number (ports, line counts, exit codes): decimal digits only, in range, with
 * an error that names the flag; a refused flag starts nothing and writes nothing.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../engine/cli";
import { intFlag, portFlag } from "../../engine/util/cli";
import { capture } from "../helpers/cli";

describe("cli: number flags", () => {
    it("portFlag takes 0-65535 in decimal digits, and the default when absent", () => {
        assert.strictEqual(portFlag("port", undefined, 8765), 8765);
        assert.strictEqual(portFlag("port", "0", 8765), 0);
        assert.strictEqual(portFlag("port", "65535", 8765), 65535);
        assert.strictEqual(portFlag("port", "08080", 1), 8080);
    });

    // Number() accepts every one of these.
    for (const bad of ["0x50", "1e3", " 80", "80 ", "", "+80", "-1", "80.0", "0b101", "65536", "99999999999999999999", "Infinity"]) {
        it(`portFlag refuses ${JSON.stringify(bad)}, naming the flag`, () => {
            assert.throws(() => portFlag("fleet-port", bad, 8765), (e: Error) => {
                assert.match(e.message, /^--fleet-port: must be a port number \(0-65535\); got /);
                assert.ok(e.message.includes(JSON.stringify(bad)), e.message);
                return true;
            });
        });
    }

    it("intFlag keeps to its range", () => {
        const lines = { min: 1, max: 100_000, what: "a number of lines (1-100000)" };
        assert.strictEqual(intFlag("lines", "40", 1, lines), 40);
        assert.throws(() => intFlag("lines", "0", 1, lines), /--lines: must be a number of lines \(1-100000\); got "0"/);
        assert.throws(() => intFlag("lines", "100001", 1, lines), /--lines/);
    });

    describe("through the CLI: a refused flag starts and writes nothing", () => {
        let dir: string;
        beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-cli-numbers-"))));
        afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

        const cases: Array<[string, string[], RegExp]> = [
            ["local up --fleet-port 0x50", ["local", "up", "--fleet-port", "0x50"], /--fleet-port: must be a port number \(0-65535\); got "0x50"/],
            ["local logs --lines 1e3", ["local", "logs", "--lines", "1e3"], /--lines: must be a number of lines \(1-100000\); got "1e3"/],
            ["fleet serve --port 1e3", ["fleet", "serve", "--port", "1e3"], /--port: must be a port number \(0-65535\); got "1e3"/],
            ["report preview --exit-code 256", ["report", "preview", "--stack", "dev", "--json", "preview.json", "--exit-code", "256"], /--exit-code: must be an exit code \(0-255\); got "256"/],
        ];
        for (const [name, args, want] of cases) {
            it(name, async () => {
                const io = capture();
                const withDir = args[0] === "local" ? [...args, "--dir", path.join(dir, "local")] : args[0] === "fleet" ? [...args, "--root", dir] : args;
                const code = await main(withDir, io.io);
                assert.notStrictEqual(code, 0);
                assert.match(io.errText(), want);
                assert.deepStrictEqual(fs.readdirSync(dir), [], "nothing written");
            });
        }
    });
});
