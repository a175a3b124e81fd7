/**
 * Where the Pulumi CLI comes from, in order: PATH, ~/.pulumi/bin (get.pulumi.com's install), the
 * npm `pulumi` package's download (~/.pulumi/versions/<version>/bin, once it has downloaded), and
 * the CLI built from Go modules into the e2e cache (`bash scripts/e2e-build.sh pulumi
 * langhost`). node_modules/.bin/pulumi is the npm package's launcher, not a CLI: it is skipped
 * here, and scripts/up.sh asks it to download (with a timeout) before building.
 */
import * as fs from "fs";
import * as path from "path";
import { CheckContext, isExecutable, which } from "./tools";

/**
 * scripts/e2e-build.sh pieces that make a working CLI: the engine and the Node.js language host.
 * The program uses no resource provider plugin (FleetSync and the clusters are dynamic resources
 * served by the language host's provider), so none is built.
 */
export const PULUMI_PIECES = ["pulumi", "langhost"] as const;

/** The built pieces' binaries: the CLI needs the language host beside it. */
export const PULUMI_BUILT_BINARIES: Record<string, string> = {
    pulumi: "pulumi",
    "pulumi-language-nodejs": "langhost",
    "pulumi-resource-pulumi-nodejs": "langhost",
};

export interface PulumiCli {
    path: string;
    source: "PATH" | "~/.pulumi/bin" | "npm pulumi package" | "built from Go modules";
    /** Folder to put first on PATH (the language host and plugins live beside the CLI). */
    binDir: string;
    version?: string;
}

/** The version the npm `pulumi` package downloads (its package.json, or PULUMI_VERSION). */
export function npmPulumiVersion(ctx: CheckContext): string | undefined {
    if (ctx.env.PULUMI_VERSION) return ctx.env.PULUMI_VERSION;
    try {
        return JSON.parse(fs.readFileSync(path.join(ctx.projectDir, "node_modules", "pulumi", "package.json"), "utf8")).version;
    } catch {
        return undefined;
    }
}

export function pulumiHome(ctx: CheckContext): string {
    return ctx.env.PULUMI_HOME || path.join(ctx.home, ".pulumi");
}

export function findPulumi(ctx: CheckContext): PulumiCli | undefined {
    const onPath = which("pulumi", ctx.env, (dir) => dir.split(path.sep).includes("node_modules"));
    if (onPath) return { path: onPath, source: "PATH", binDir: path.dirname(onPath) };
    const home = pulumiHome(ctx);
    const installed = path.join(home, "bin", "pulumi");
    if (isExecutable(installed)) return { path: installed, source: "~/.pulumi/bin", binDir: path.dirname(installed) };
    const v = npmPulumiVersion(ctx);
    const downloaded = v ? path.join(home, "versions", v, "bin", "pulumi") : "";
    if (downloaded && isExecutable(downloaded)) return { path: downloaded, source: "npm pulumi package", binDir: path.dirname(downloaded), version: v };
    const built = path.join(ctx.bin, "pulumi");
    if (Object.keys(PULUMI_BUILT_BINARIES).every((b) => isExecutable(path.join(ctx.bin, b)))) return { path: built, source: "built from Go modules", binDir: ctx.bin };
    return undefined;
}
