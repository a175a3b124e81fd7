/**
 * Image policy selection: ours (in-process, compile + select, file read excluded) against a Go
 * peer using the real Masterminds/semver and fluxcd/pkg/version (bench/peers/policy, built with
 * `go build` into bench/out/, cached). The peer reports its own selection time on stdout, so
 * process start-up is not counted. Both must select the same tag, or the case fails.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { compilePolicy } from "../../engine/images/policy";
import type { ImagePolicyChoice, TagFilter } from "../../engine/flux/api";
import { report } from "../lib";

const ROOT = path.join(__dirname, "../..");
const OUT = path.join(ROOT, "bench/out/policy");
const PEER_SRC = path.join(ROOT, "bench/peers/policy");
const PEER_BIN = path.join(OUT, "policy-peer");

function buildPeer(): string | undefined {
    fs.mkdirSync(OUT, { recursive: true });
    const sources = ["go.mod", "go.sum", "main.go", "fluxpolicy/policy.go"].map((f) => path.join(PEER_SRC, f));
    const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
    if (fs.existsSync(PEER_BIN) && fs.statSync(PEER_BIN).mtimeMs >= newest) return PEER_BIN;
    const r = spawnSync("go", ["build", "-o", PEER_BIN, "."], { cwd: PEER_SRC, encoding: "utf8" });
    if (r.status !== 0) {
        process.stderr.write(`policy bench: cannot build the Go peer (${r.error?.message ?? r.stderr}); reporting ours only\n`);
        return undefined;
    }
    return PEER_BIN;
}

/** Deterministic pseudo-random generator (mulberry32). */
function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** Registry-like semver tags: releases, v-prefixes, prereleases, builds and some junk. */
function semverTags(n: number): string[] {
    const r = rng(n);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
        const x = r();
        const v = `${Math.floor(r() * 5)}.${Math.floor(r() * 60)}.${Math.floor(r() * 200)}`;
        if (x < 0.55) out.push(v);
        else if (x < 0.7) out.push(`v${v}`);
        else if (x < 0.82) out.push(`${v}-rc.${Math.floor(r() * 10)}`);
        else if (x < 0.88) out.push(`${v}+build.${i}`);
        else if (x < 0.94) out.push(`main-${(i * 2654435761 >>> 0).toString(16)}`);
        else out.push(`${v}-alpine`);
    }
    return out;
}

/** CI-style tags: main-<sha>-<unix ts> mixed with other branches and releases. */
function buildTags(n: number): string[] {
    const r = rng(n + 1);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
        const sha = ((i * 2654435761) >>> 0).toString(16).padStart(8, "0");
        const ts = 1600000000 + Math.floor(r() * 100000000);
        const x = r();
        out.push(x < 0.7 ? `main-${sha}-${ts}` : x < 0.9 ? `dev-${sha}-${ts}` : `1.${i % 50}.${i % 7}`);
    }
    return out;
}

interface Case {
    name: string;
    policy: ImagePolicyChoice;
    filter?: TagFilter;
    tags: string[];
}

function runCase(c: Case, peer: string | undefined): void {
    const file = path.join(OUT, `${c.name}.tags`);
    fs.writeFileSync(file, c.tags.join("\n") + "\n");
    const tags = fs.readFileSync(file, "utf8").trimEnd().split("\n"); // read outside the timing
    let ours = "";
    const oursTime = bestOf(5, () => {
        ours = compilePolicy(c.policy, c.filter).select(tags);
    });
    let peerTime: number | undefined;
    if (peer) {
        const args = ["-policy", JSON.stringify(c.policy), "-tags", file, "-repeat", "5"];
        if (c.filter) args.push("-filter", JSON.stringify(c.filter));
        const r = spawnSync(peer, args, { encoding: "utf8", maxBuffer: 1 << 26 });
        if (r.status !== 0) throw new Error(`peer failed for ${c.name}: ${r.stderr}`);
        const m = /^tag=(.*) seconds=([0-9.]+)$/m.exec(r.stdout);
        if (!m) throw new Error(`peer output not understood: ${r.stdout}`);
        if (m[1] !== ours) throw new Error(`${c.name}: ours selected ${JSON.stringify(ours)}, the Go peer ${JSON.stringify(m[1])}`);
        peerTime = Number(m[2]);
    }
    report(c.name, oursTime, peerTime);
}

/** Best wall time of `n` synchronous runs (as lib's timeBest, without the async overhead). */
function bestOf(n: number, fn: () => void): number {
    let best = Infinity;
    for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        fn();
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return best;
}

async function main(): Promise<void> {
    const peer = buildPeer();
    const semver: ImagePolicyChoice = { semver: { range: ">=1.0.0 <4.0.0" } };
    runCase({ name: "policy-semver-10k", policy: semver, tags: semverTags(10_000) }, peer);
    runCase({ name: "policy-semver-100k", policy: semver, tags: semverTags(100_000) }, peer);
    runCase({
        name: "policy-numerical-100k",
        policy: { numerical: { order: "asc" } },
        filter: { pattern: "^main-[a-f0-9]+-(?P<ts>[0-9]+)$", extract: "$ts" },
        tags: buildTags(100_000),
    }, peer);
    runCase({
        name: "policy-alphabetical-100k",
        policy: { alphabetical: { order: "asc" } },
        filter: { pattern: "^dev-[a-f0-9]+-[0-9]+$" },
        tags: buildTags(100_000),
    }, peer);
    for (const n of [1_000, 10_000, 100_000]) {
        runCase({ name: `policy-growth-${n / 1000}k`, policy: semver, tags: semverTags(n) }, peer);
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
