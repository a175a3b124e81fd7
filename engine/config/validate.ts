/**
 * The validators for stack config values, in one place. The schema (schema.ts) runs them on every
 * key before any resource is registered or file written; components/ and the rest of the engine
 * call the same functions, so a value is judged by one rule wherever it is checked.
 *
 * Each rule is a `...Problem(value)` function returning what is wrong and what to do (or
 * undefined), and a `validate...(value, where)` wrapper that throws a GitopsError at `where`.
 * No message ever repeats a credential: URLs are shown with their user info and secret query
 * values masked.
 */
import { GitopsError } from "../errors";
import { compileGoRegexp, GoRegexpError } from "../images/goregexp";
import { Constraints, SemverError } from "../images/semver";
import { relativePathProblem } from "../util/paths";
import { NS, redactUrl, SECRET_QUERY } from "./check";

export interface Problem {
    /** What is wrong, completing "<key> ...". */
    readonly what: string;
    /** What to do instead. */
    readonly fix: string;
}

function raise(where: string, p: Problem | undefined): void {
    if (p) throw new GitopsError(where, p.what, p.fix);
}

// --- regular expressions ------------------------------------------------------------------------

/**
 * A Go regexp (RE2 syntax) as Flux compiles it (ImagePolicy filterTags.pattern, ImageRepository
 * exclusionList). `(?i)`, `(?P<name>...)` are valid; backreferences and lookaround are not.
 * Compiled here with engine/images/goregexp.ts, the engine's current Go regexp.
 */
export function regexpProblem(pattern: string): Problem | undefined {
    try {
        compileGoRegexp(pattern);
        return undefined;
    } catch (err) {
        if (err instanceof GoRegexpError) {
            return { what: `is not a valid Go (RE2) regular expression: ${err.message}`, fix: "write an RE2 pattern: no backreferences or lookaround; (?i), (?P<name>...) and \\d are fine" };
        }
        throw err;
    }
}

/** Throws a GitopsError at `where` unless `pattern` compiles as a Go (RE2) regexp. */
export function validateRegexp(pattern: string, where: string): void {
    raise(where, regexpProblem(pattern));
}

// --- semver ranges ------------------------------------------------------------------------------

/** A semver range as Flux parses it (Masterminds semver v3 NewConstraint): "^1.0.0", ">=1.2 <2", "1.x". */
export function semverRangeProblem(range: string): Problem | undefined {
    try {
        Constraints.parse(range);
        return undefined;
    } catch (err) {
        if (err instanceof SemverError) return { what: `is not a valid semver range: ${err.message}`, fix: 'use a range such as "^1.0.0", ">=1.2.0 <2.0.0" or "1.x"' };
        throw err;
    }
}

export function validateSemverRange(range: string, where: string): void {
    raise(where, semverRangeProblem(range));
}

// --- git ref names ------------------------------------------------------------------------------

/**
 * `git check-ref-format` rules for a full ref name (refs.c check_refname_format): no component
 * starting with "." or ending in ".lock", no "..", no control characters, space, ~ ^ : ? * [ \,
 * no empty component (leading, trailing or double "/"), not ending in ".", no "@{", not "@".
 */
export function refNameProblem(ref: string): string | undefined {
    if (ref.length === 0) return "is empty";
    if (ref === "@") return "cannot be '@'";
    if (ref.includes("@{")) return "cannot contain '@{'";
    if (ref.includes("..")) return "cannot contain '..'";
    if (ref.endsWith(".")) return "cannot end with '.'";
    // eslint-disable-next-line no-control-regex
    const bad = /[\u0000-\u0020\u007f~^:?*[\\]/.exec(ref);
    if (bad) return `cannot contain ${bad[0] === " " ? "a space" : bad[0].charCodeAt(0) < 0x20 || bad[0] === "\u007f" ? "control characters" : `'${bad[0]}'`}`;
    for (const c of ref.split("/")) {
        if (c === "") return "cannot start or end with '/' or contain '//'";
        if (c.startsWith(".")) return "cannot have a part starting with '.'";
        if (c.endsWith(".lock")) return "cannot have a part ending in '.lock'";
    }
    return undefined;
}

const REF_FIX = "use letters, digits, '-', '_', '.' and '/' (see `git check-ref-format`)";

/** A branch name as `git check-ref-format --branch` accepts it. */
export function branchNameProblem(branch: string): Problem | undefined {
    if (branch.startsWith("-")) return { what: "is not a valid branch name: it cannot start with '-'", fix: REF_FIX };
    if (branch === "HEAD") return { what: "is not a valid branch name: HEAD is reserved", fix: REF_FIX };
    const p = refNameProblem(`refs/heads/${branch}`);
    return p ? { what: `is not a valid branch name: it ${p}`, fix: REF_FIX } : undefined;
}

export function validateBranchName(branch: string, where: string): void {
    raise(where, branchNameProblem(branch));
}

/** A tag name (refs/tags/<tag>). */
export function tagNameProblem(tag: string): Problem | undefined {
    if (tag.startsWith("-")) return { what: "is not a valid tag name: it cannot start with '-'", fix: REF_FIX };
    const p = refNameProblem(`refs/tags/${tag}`);
    return p ? { what: `is not a valid tag name: it ${p}`, fix: REF_FIX } : undefined;
}

/** A full reference name such as "refs/heads/main" or "refs/pull/1/head" (GitRepository ref.name). */
export function fullRefNameProblem(ref: string): Problem | undefined {
    if (!ref.startsWith("refs/")) return { what: 'is not a full reference name: it must start with "refs/"', fix: 'use e.g. "refs/heads/main" or "refs/tags/v1.0.0"' };
    const p = refNameProblem(ref);
    return p ? { what: `is not a valid reference name: it ${p}`, fix: REF_FIX } : undefined;
}

// --- paths --------------------------------------------------------------------------------------

/** A path inside a repository (fleet.path, Kustomization and image automation paths). */
export function repoPathProblem(p: string): Problem | undefined {
    const what = relativePathProblem(p);
    return what ? { what, fix: 'give a path relative to the repository root, such as "./apps/dev"' } : undefined;
}

/** A file of the project (flux.componentsFile): relative to the project directory, inside it. */
export function projectPathProblem(p: string): Problem | undefined {
    const what = relativePathProblem(p);
    return what ? { what: what.replace("the repository", "the project directory"), fix: "vendor the file inside the project directory and give its path relative to it, such as \"flux/gotk-components.yaml\"" } : undefined;
}

// --- credentials --------------------------------------------------------------------------------

/** Hosts of incoming webhooks, where the URL itself is the credential. */
const WEBHOOK_URL = /^https?:\/\/(hooks\.slack\.com\/|[^/]*\.webhook\.office\.com\/|outlook\.office(365)?\.com\/webhook|discord(app)?\.com\/api\/webhooks\/|chat\.googleapis\.com\/)/i;

export { redactUrl };

/** The URL without its user info (what to put in config once the credential is a secret). */
function withoutUserInfo(url: string): string {
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@?#]*@/i, "$1");
}

/**
 * A credential embedded in a URL: a password in its user info (any scheme), any user info in an
 * http(s) URL (tokens go there as the user name), or a secret query parameter. `ssh://git@host`
 * (a user name without password) is fine.
 */
export function urlCredentialKind(url: string): string | undefined {
    const m = /^([a-z][a-z0-9+.-]*):\/\/([^/@?#]*)@/i.exec(url);
    if (m) {
        const scheme = m[1].toLowerCase();
        if (m[2].includes(":")) return "a password in the URL";
        if (scheme === "http" || scheme === "https") return "a user name or token in the URL";
    }
    const q = /\?([^#]*)/.exec(url)?.[1];
    if (q) for (const part of q.split("&")) if (SECRET_QUERY.test(part.split("=")[0])) return `a credential in the query parameter "${part.split("=")[0]}"`;
    return undefined;
}

/**
 * The problem with a URL that holds a credential, with the command to keep it a secret instead:
 * `secretKey` names the secret setting that carries it (e.g. "githubToken"), or undefined when
 * the credential belongs in a Kubernetes Secret the object names (`secretRefHint`).
 */
export function urlCredentialProblem(url: string, opts: { secretKey?: string; secretPath?: string; secretRefHint?: string } = {}): Problem | undefined {
    const kind = urlCredentialKind(url);
    if (!kind) return undefined;
    const clean = withoutUserInfo(redactUrl(url));
    let fix: string;
    if (opts.secretKey) {
        const key = `${NS}:${opts.secretKey}${opts.secretPath ? `.${opts.secretPath}` : ""}`;
        fix = `remove it from the URL (${JSON.stringify(clean)}) and run \`pulumi config set --secret${opts.secretPath ? " --path" : ""} ${key} <credential>\``;
    } else {
        fix = `remove it from the URL (${JSON.stringify(clean)})${opts.secretRefHint ? ` and ${opts.secretRefHint}` : ""}`;
    }
    return { what: `holds ${kind} (${JSON.stringify(redactUrl(url))}); credentials in config end up in Git and in plain stack outputs`, fix };
}

/** An incoming-webhook address (Slack, Teams, Discord, Google Chat): the URL is the credential. */
export function webhookAddressProblem(address: string, providerName: string): Problem | undefined {
    if (!WEBHOOK_URL.test(address)) return undefined;
    return {
        what: `is an incoming-webhook URL, which is itself a credential (${JSON.stringify(redactUrl(address).replace(/^(https?:\/\/[^/]+\/).*/i, "$1***"))}); it would land in Git`,
        fix: `remove it and run \`pulumi config set --secret --path ${NS}:notificationSecrets.${providerName} <webhook-url>\``,
    };
}

/** The command to set a secret setting, for messages about plain-text secrets. */
export function plainSecretProblem(fullKey: string, file: string): string {
    return `${fullKey} holds a secret in plain text; remove it from ${file} and set it with \`pulumi config set --secret ${fullKey} <value>\``;
}

/**
 * Variable and environment names that carry secrets. Their values must not sit in plain stack
 * config (they land in Git); Flux reads them from a Secret (postBuild.substituteFrom kind Secret).
 */
export const SECRET_NAME = /(^|[_-])(password|passwd|secret|token|api[_-]?key|private[_-]?key|credentials?)([_-]|$)/i;
