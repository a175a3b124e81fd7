/**
 * The one shared Pulumi mock for unit tests. It records every resource the program registers
 * (type, name, inputs, provider, URN with its parent chain), answers the few invokes the program
 * makes, and throws "mock not implemented: <token>" for any other, so an unexpected call fails
 * the test instead of passing silently. Ids are never empty.
 */
import * as path from "path";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>;
    provider?: string;
    custom: boolean;
    id: string;
}

export class RecordingMocks implements pulumi.runtime.Mocks {
    readonly resources: Recorded[] = [];
    readonly calls: Array<{ token: string; inputs: any }> = [];

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, any> } {
        const id = `${args.name}-id`;
        const state = { ...args.inputs, ...computed(args) };
        this.resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider, custom: !!args.custom, id });
        return { id, state };
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        this.calls.push({ token: args.token, inputs: args.inputs });
        switch (args.token) {
            case "azure-native:containerservice:listManagedClusterUserCredentials":
                return { kubeconfigs: [{ name: "clusterUser", value: Buffer.from(FAKE_KUBECONFIG).toString("base64") }] };
            default:
                throw new Error(`mock not implemented: ${args.token}`);
        }
    }

    /** The URN the mock monitor gave a resource; its type chain names every parent. */
    urn(type: string, name: string): string {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const monitor = require("@pulumi/pulumi/runtime/settings").getMonitor();
        const urns = [...monitor.resources.keys()].filter((u: string) => {
            const [, , chain, n] = u.split("::");
            return n === name && chain.split("$").pop() === type;
        });
        if (urns.length !== 1) throw new Error(`expected one URN for ${type}::${name}; found ${urns.length}`);
        return urns[0];
    }

    /** The type of a resource's parent ("" for none), from its URN (mock URNs carry the immediate parent's type). */
    parent(type: string, name: string): string {
        const chain = this.urn(type, name).split("::")[2].split("$");
        return chain.length > 1 ? chain[chain.length - 2] : "";
    }

    /**
     * The outputs a component registered (registerOutputs), as the mock monitor holds them in the
     * graph; undefined when it registered none. Secret values arrive wrapped (see unwrap).
     */
    outputs(type: string, name: string): Record<string, any> | undefined {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const monitor = require("@pulumi/pulumi/runtime/settings").getMonitor();
        const state = monitor.resources.get(this.urn(type, name))?.state;
        if (!state || typeof state.toJavaScript !== "function") return undefined;
        return state.toJavaScript();
    }

    byType(type: string): Recorded[] {
        return this.resources.filter((r) => r.type === type);
    }

    one(type: string, name: string): Recorded {
        const found = this.resources.filter((r) => r.type === type && r.name === name);
        if (found.length !== 1) {
            throw new Error(`expected one ${type} named ${name}; registered: ${this.resources.map((r) => `${r.type}::${r.name}`).join(", ")}`);
        }
        return found[0];
    }
}

export const FAKE_KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: mock
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: mock
  context:
    cluster: mock
    user: mock
current-context: mock
users:
- name: mock
  user:
    token: mock-token
`;

/** Outputs a real provider would compute, per resource kind. */
function computed(args: pulumi.runtime.MockResourceArgs): Record<string, any> {
    const i = args.inputs ?? {};
    if (args.type.startsWith("pulumi-nodejs:dynamic")) {
        if ("tool" in i) return { kubeconfig: FAKE_KUBECONFIG };
        if ("rotation" in i) return { privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nmock\n-----END OPENSSH PRIVATE KEY-----\n", publicKey: "ssh-ed25519 AAAAmock flux", fingerprint: "SHA256:mock" };
        if ("files" in i) return { commit: "0123456789abcdef0123456789abcdef01234567", inventory: [], summary: "mock" };
    }
    switch (args.type) {
        case "azure-native:resources:ResourceGroup":
            return { name: i.resourceGroupName ?? args.name };
        case "azure-native:containerservice:ManagedCluster":
            return { name: i.resourceName ?? args.name };
        case "github:index/repository:Repository":
            return { nodeId: `R_${args.name}`, sshCloneUrl: `git@github.com:owner/${i.name}.git`, fullName: `owner/${i.name}` };
        default:
            return {};
    }
}

/** The SDK's own signature for a secret value on the wire (mocks see secret inputs wrapped in it). */
const { specialSigKey: SIG_KEY, specialSecretSig: SECRET_SIG } = pulumi.runtime;

/** True when a mocked resource input arrived as a secret. */
export function isSecretInput(v: unknown): boolean {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value of a (possibly secret) mocked input. */
export function unwrap<T = any>(v: unknown): T {
    return (isSecretInput(v) ? (v as { value: T }).value : v) as T;
}

/** Resolves an Output in a test (outputs of mocked resources resolve without a Pulumi engine). */
export function promiseOf<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** Reads Pulumi.<stack>.yaml's config as pulumi.runtime.setAllConfig wants it (objects as JSON). */
export function stackFileConfig(stack: string, project = path.join(__dirname, "..")): Record<string, string> {
    const doc = parse(fs.readFileSync(path.join(project, `Pulumi.${stack}.yaml`), "utf8"));
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config ?? {})) out[k] = typeof v === "string" ? v : JSON.stringify(v);
    return out;
}

const PROGRAM = path.join(__dirname, "..", "index.ts");

/**
 * Runs the program for one stack under fresh mocks: sets config (secretKeys marks which keys are
 * secret), sets mocks, then imports index.ts anew. Returns the mocks and the program's exports.
 */
export async function runProgram(stack: string, config: Record<string, string>, secretKeys: string[] = []): Promise<{ mocks: RecordingMocks; exports: Record<string, any> }> {
    const mocks = new RecordingMocks();
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(mocks, "gitops-platform", stack, false);
    delete require.cache[require.resolve(PROGRAM)];
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const exports = require(PROGRAM);
    return { mocks, exports };
}

/** Waits until every resource registration in flight has reached the mocks. */
export async function settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50));
}
