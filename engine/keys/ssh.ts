/**
 * Ed25519 SSH key pairs in OpenSSH formats, with Node's crypto only: the private key in the
 * "openssh-key-v1" PEM that ssh, git and Flux's source-controller read, and the public key as an
 * authorized_keys line for GitHub deploy keys.
 */
import { generateKeyPairSync, randomBytes, createHash, KeyObject } from "crypto";

export interface SshKeyPair {
    /** -----BEGIN OPENSSH PRIVATE KEY----- ... (secret) */
    privateKey: string;
    /** "ssh-ed25519 AAAA... comment" */
    publicKey: string;
    /** "SHA256:..." as ssh-keygen -l prints it. */
    fingerprint: string;
}

function sshString(buf: Buffer | string): Buffer {
    const b = typeof buf === "string" ? Buffer.from(buf) : buf;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
}

function rawKeys(pub: KeyObject, priv: KeyObject): { pub: Buffer; seed: Buffer } {
    const pubJwk = pub.export({ format: "jwk" }) as { x: string };
    const privJwk = priv.export({ format: "jwk" }) as { d: string };
    return { pub: Buffer.from(pubJwk.x, "base64url"), seed: Buffer.from(privJwk.d, "base64url") };
}

export function generateEd25519(comment = "gitops-platform"): SshKeyPair {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const { pub, seed } = rawKeys(publicKey, privateKey);
    const pubBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
    const check = randomBytes(4);
    let privSection = Buffer.concat([
        check,
        check,
        sshString("ssh-ed25519"),
        sshString(pub),
        sshString(Buffer.concat([seed, pub])),
        sshString(comment),
    ]);
    // Pad to the cipher block size (8 for "none") with 1, 2, 3, ...
    const pad = (8 - (privSection.length % 8)) % 8;
    privSection = Buffer.concat([privSection, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
    const body = Buffer.concat([
        Buffer.from("openssh-key-v1\0"),
        sshString("none"),
        sshString("none"),
        sshString(""),
        Buffer.from([0, 0, 0, 1]),
        sshString(pubBlob),
        sshString(privSection),
    ]);
    const b64 = body.toString("base64").replace(/(.{70})/g, "$1\n");
    return {
        privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END OPENSSH PRIVATE KEY-----\n`,
        publicKey: `ssh-ed25519 ${pubBlob.toString("base64")} ${comment}`,
        fingerprint: `SHA256:${createHash("sha256").update(pubBlob).digest("base64").replace(/=+$/, "")}`,
    };
}

/** GitHub's published SSH host keys, for the known_hosts entry Flux needs to verify github.com. */
export const GITHUB_KNOWN_HOSTS = [
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
    "github.com ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=",
    "github.com ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=",
].join("\n");
