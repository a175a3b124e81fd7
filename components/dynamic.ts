/**
 * Loading engine modules from inside a dynamic provider.
 *
 * Pulumi serializes a dynamic provider's code into the state and runs it later in its own host
 * process, which does not run our TypeScript loader and may run in another checkout. So methods
 * never capture engine modules or absolute paths: they call `engine("name")` at run time, which
 * resolves engine/<name> against the project directory (the provider host's working directory)
 * and registers a TypeScript loader once.
 */
/** The engine modules a dynamic provider may load, typed by `import type` only (no runtime import). */
export interface EngineModules {
    reconcile: typeof import("../engine/reconcile");
    git: typeof import("../engine/git");
    "keys/ssh": typeof import("../engine/keys/ssh");
    localcluster: typeof import("../engine/localcluster");
}

export function engine<K extends keyof EngineModules>(name: K): EngineModules[K] {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const path = require("path");
    if (!require.extensions[".ts"]) {
        // sucrase: a fast TypeScript-to-JS transform with no native parts (type checks run in `npm test`).
        require(require.resolve("sucrase/register/ts", { paths: [process.cwd()] }));
    }
    return require(path.join(process.cwd(), "engine", name));
}
