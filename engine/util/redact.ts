/**
 * The one place that takes secret values out of text that may be shown (errors, logs, output).
 */

/** What a secret is replaced with, as `flux diff` masks Secret data. */
export const MASK = "***";

/** Shortest secret prefix that is still masked when a message shows only the start of a secret (a server quoting a truncated body). */
const MIN_PREFIX = 8;

/**
 * Replaces every occurrence of each secret in `text` with `***`: whole, JSON-escaped (a value
 * with newlines quoted in a JSON body), and a leading part of at least 8 characters (a body cut
 * off in the middle of a secret). Secrets shorter than 4 characters are left alone: masking
 * them would mangle ordinary words.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
    let out = text;
    const forms = new Set<string>();
    for (const s of secrets) {
        if (!s || s.length < 4) continue;
        forms.add(s);
        const escaped = JSON.stringify(s).slice(1, -1);
        if (escaped !== s) forms.add(escaped);
    }
    // Longest first, so a secret that contains another is masked whole.
    for (const s of [...forms].sort((a, b) => b.length - a.length)) {
        out = out.split(s).join(MASK);
        if (s.length <= MIN_PREFIX) continue;
        // A leading part of s, cut off where the text ends or the quoting stops.
        const head = s.slice(0, MIN_PREFIX);
        let from = 0;
        for (let i = out.indexOf(head, from); i >= 0; i = out.indexOf(head, from)) {
            let n = MIN_PREFIX;
            while (n < s.length && i + n < out.length && out[i + n] === s[n]) n++;
            out = out.slice(0, i) + MASK + out.slice(i + n);
            from = i + MASK.length;
        }
    }
    return out;
}
