/**
 * gzip as Go's compress/gzip writes it at the default level, so a Flux artifact's content layer
 * is byte-for-byte the one `flux push artifact` builds (fluxcd/pkg/tar: gzip.NewWriter over the
 * tar stream) and the same folder gets the same digest from either tool.
 *
 * Written from Go's compress/flate (deflate.go, huffman_bit_writer.go, huffman_code.go, token.go;
 * Go 1.26) for level 6, the level DefaultCompression means: hash chains over 4-byte hashes
 * (hash4, 17 bits), lazy matching (good 8, lazy 16, nice 128, chain 128), blocks of up to 16384
 * tokens each written as the smallest of stored / fixed / dynamic Huffman (Go's length-limited
 * code construction, bitCounts), and an empty final stored block on close. The gzip frame is
 * Go's: no name, mtime 0, XFL 0, OS 255 ("unknown"), then CRC-32 and size.
 *
 * zlib (Node's gzipSync) compresses differently (3-byte matches, other trees, OS 3), which is why
 * this exists. Speed (pure TypeScript, warm, on this machine): about 2 MB/s on incompressible
 * data, 25 MB/s or more on manifests; a fleet folder is kilobytes.
 */

// --- tokens (token.go)

const LENGTH_SHIFT = 22;
const OFFSET_MASK = (1 << LENGTH_SHIFT) - 1;
const MATCH_TYPE = 1 << 30;

const LENGTH_CODES = new Uint8Array(256);
const OFFSET_CODES = new Uint8Array(256);
const LENGTH_BASE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 255];
const LENGTH_EXTRA_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const OFFSET_BASE = [
    0x000000, 0x000001, 0x000002, 0x000003, 0x000004, 0x000006, 0x000008, 0x00000c, 0x000010, 0x000018, 0x000020, 0x000030, 0x000040, 0x000060, 0x000080,
    0x0000c0, 0x000100, 0x000180, 0x000200, 0x000300, 0x000400, 0x000600, 0x000800, 0x000c00, 0x001000, 0x001800, 0x002000, 0x003000, 0x004000, 0x006000,
];
const OFFSET_EXTRA_BITS = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
// lengthCodes[len-3] and offsetCodes[off] for off < 256: the tables token.go spells out.
for (let code = 0; code < 29; code++) {
    const end = code === 28 ? 256 : LENGTH_BASE[code + 1];
    for (let l = LENGTH_BASE[code]; l < end; l++) LENGTH_CODES[l] = code;
}
LENGTH_CODES[255] = 28;
for (let code = 0; code < 16; code++) {
    const end = code === 15 ? 256 : OFFSET_BASE[code + 1];
    for (let o = OFFSET_BASE[code]; o < end; o++) OFFSET_CODES[o] = code;
}

function offsetCode(off: number): number {
    if (off < 256) return OFFSET_CODES[off];
    if (off >>> 7 < 256) return OFFSET_CODES[off >>> 7] + 14;
    return OFFSET_CODES[off >>> 14] + 28;
}

// --- Huffman codes (huffman_code.go)

const MAX_NUM_LIT = 286;
const OFFSET_CODE_COUNT = 30;
const CODEGEN_CODE_COUNT = 19;
const END_BLOCK_MARKER = 256;
const LENGTH_CODES_START = 257;
const BAD_CODE = 255;
const CODEGEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
const MAX_INT32 = 0x7fffffff;

function reverseBits(n: number, len: number): number {
    let r = 0;
    for (let i = 0; i < len; i++) r |= ((n >>> i) & 1) << (len - 1 - i);
    return r;
}

interface Node {
    literal: number;
    freq: number;
}

class HuffmanEncoder {
    readonly code: Uint16Array;
    readonly len: Uint8Array;
    constructor(size: number) {
        this.code = new Uint16Array(size);
        this.len = new Uint8Array(size);
    }

    bitLength(freq: Int32Array): number {
        let total = 0;
        for (let i = 0; i < freq.length; i++) if (freq[i] !== 0) total += freq[i] * this.len[i];
        return total;
    }

    /** Go's bitCounts: how many literals get each code length, at most maxBits (list sorted by freq). */
    private bitCounts(list: Node[], maxBits: number): number[] {
        const n = list.length;
        list = [...list, { literal: 0xffff, freq: MAX_INT32 }];
        if (maxBits > n - 1) maxBits = n - 1;
        const levels = Array.from({ length: 16 }, () => ({ level: 0, lastFreq: 0, nextCharFreq: 0, nextPairFreq: 0, needed: 0 }));
        const leafCounts = Array.from({ length: 16 }, () => new Array<number>(16).fill(0));
        for (let level = 1; level <= maxBits; level++) {
            levels[level] = { level, lastFreq: list[1].freq, nextCharFreq: list[2].freq, nextPairFreq: list[0].freq + list[1].freq, needed: 0 };
            leafCounts[level][level] = 2;
            if (level === 1) levels[level].nextPairFreq = MAX_INT32;
        }
        levels[maxBits].needed = 2 * n - 4;
        let level = maxBits;
        for (;;) {
            const l = levels[level];
            if (l.nextPairFreq === MAX_INT32 && l.nextCharFreq === MAX_INT32) {
                l.needed = 0;
                levels[level + 1].nextPairFreq = MAX_INT32;
                level++;
                continue;
            }
            const prevFreq = l.lastFreq;
            if (l.nextCharFreq < l.nextPairFreq) {
                const c = leafCounts[level][level] + 1;
                l.lastFreq = l.nextCharFreq;
                leafCounts[level][level] = c;
                l.nextCharFreq = list[c].freq;
            } else {
                l.lastFreq = l.nextPairFreq;
                for (let i = 0; i < level; i++) leafCounts[level][i] = leafCounts[level - 1][i];
                levels[l.level - 1].needed = 2;
            }
            if (--l.needed === 0) {
                if (l.level === maxBits) break;
                levels[l.level + 1].nextPairFreq = prevFreq + l.lastFreq;
                level++;
            } else {
                while (levels[level - 1].needed > 0) level--;
            }
        }
        if (leafCounts[maxBits][maxBits] !== n) throw new Error("deflate: internal error (leafCounts)");
        const bitCount = new Array<number>(maxBits + 1).fill(0);
        let bits = 1;
        const counts = leafCounts[maxBits];
        for (let lv = maxBits; lv > 0; lv--) bitCount[bits++] = counts[lv] - counts[lv - 1];
        return bitCount;
    }

    private assign(bitCount: number[], list: Node[]): void {
        let code = 0;
        for (let n = 0; n < bitCount.length; n++) {
            const bits = bitCount[n];
            code <<= 1;
            if (n === 0 || bits === 0) continue;
            const chunk = list.slice(list.length - bits).sort((a, b) => a.literal - b.literal);
            for (const node of chunk) {
                this.code[node.literal] = reverseBits(code, n);
                this.len[node.literal] = n;
                code++;
            }
            list = list.slice(0, list.length - bits);
        }
    }

    generate(freq: Int32Array, maxBits: number): void {
        const list: Node[] = [];
        for (let i = 0; i < freq.length; i++) {
            if (freq[i] !== 0) list.push({ literal: i, freq: freq[i] });
            else this.len[i] = 0;
        }
        if (list.length <= 2) {
            list.forEach((node, i) => {
                this.code[node.literal] = i;
                this.len[node.literal] = 1;
            });
            return;
        }
        list.sort((a, b) => (a.freq === b.freq ? a.literal - b.literal : a.freq - b.freq));
        this.assign(this.bitCounts(list, maxBits), list);
    }
}

const FIXED_LITERAL = (() => {
    const h = new HuffmanEncoder(MAX_NUM_LIT);
    for (let ch = 0; ch < MAX_NUM_LIT; ch++) {
        const [bits, size] = ch < 144 ? [ch + 48, 8] : ch < 256 ? [ch + 400 - 144, 9] : ch < 280 ? [ch - 256, 7] : [ch + 192 - 280, 8];
        h.code[ch] = reverseBits(bits, size);
        h.len[ch] = size;
    }
    return h;
})();
const FIXED_OFFSET = (() => {
    const h = new HuffmanEncoder(OFFSET_CODE_COUNT);
    for (let ch = 0; ch < OFFSET_CODE_COUNT; ch++) {
        h.code[ch] = reverseBits(ch, 5);
        h.len[ch] = 5;
    }
    return h;
})();

// --- the bit writer (huffman_bit_writer.go): LSB first; the output bytes are all that matter

class BitWriter {
    private out: Buffer[] = [];
    private buf = Buffer.alloc(1 << 16);
    private n = 0;
    private bits = 0;
    private nbits = 0;
    private readonly literalFreq = new Int32Array(MAX_NUM_LIT);
    private readonly offsetFreq = new Int32Array(OFFSET_CODE_COUNT);
    private readonly codegen = new Uint8Array(MAX_NUM_LIT + OFFSET_CODE_COUNT + 1);
    private readonly codegenFreq = new Int32Array(CODEGEN_CODE_COUNT);
    private readonly literalEncoding = new HuffmanEncoder(MAX_NUM_LIT);
    private readonly offsetEncoding = new HuffmanEncoder(OFFSET_CODE_COUNT);
    private readonly codegenEncoding = new HuffmanEncoder(CODEGEN_CODE_COUNT);

    private byte(b: number): void {
        if (this.n === this.buf.length) {
            this.out.push(this.buf);
            this.buf = Buffer.alloc(1 << 16);
            this.n = 0;
        }
        this.buf[this.n++] = b;
    }

    writeBits(b: number, nb: number): void {
        this.bits |= b << this.nbits;
        this.nbits += nb;
        while (this.nbits >= 8) {
            this.byte(this.bits & 0xff);
            this.bits >>>= 8;
            this.nbits -= 8;
        }
    }

    /** Pads to a byte boundary with zero bits (Go's flush). */
    flush(): void {
        if (this.nbits > 0) this.byte(this.bits & 0xff);
        this.bits = 0;
        this.nbits = 0;
    }

    writeBytes(b: Uint8Array): void {
        if (this.nbits !== 0) throw new Error("deflate: internal error (writeBytes with unfinished bits)");
        for (const x of b) this.byte(x);
    }

    writeStoredHeader(length: number, eof: boolean): void {
        this.writeBits(eof ? 1 : 0, 3);
        this.flush();
        this.writeBits(length, 16);
        this.writeBits(~length & 0xffff, 16);
    }

    result(): Buffer {
        return Buffer.concat([...this.out, this.buf.subarray(0, this.n)]);
    }

    private generateCodegen(numLiterals: number, numOffsets: number, lit: HuffmanEncoder, off: HuffmanEncoder): void {
        this.codegenFreq.fill(0);
        const cg = this.codegen;
        for (let i = 0; i < numLiterals; i++) cg[i] = lit.len[i];
        for (let i = 0; i < numOffsets; i++) cg[numLiterals + i] = off.len[i];
        cg[numLiterals + numOffsets] = BAD_CODE;
        let size = cg[0];
        let count = 1;
        let out = 0;
        for (let inIndex = 1; size !== BAD_CODE; inIndex++) {
            const nextSize = cg[inIndex];
            if (nextSize === size) {
                count++;
                continue;
            }
            if (size !== 0) {
                cg[out++] = size;
                this.codegenFreq[size]++;
                count--;
                while (count >= 3) {
                    const n = Math.min(6, count);
                    cg[out++] = 16;
                    cg[out++] = n - 3;
                    this.codegenFreq[16]++;
                    count -= n;
                }
            } else {
                while (count >= 11) {
                    const n = Math.min(138, count);
                    cg[out++] = 18;
                    cg[out++] = n - 11;
                    this.codegenFreq[18]++;
                    count -= n;
                }
                if (count >= 3) {
                    cg[out++] = 17;
                    cg[out++] = count - 3;
                    this.codegenFreq[17]++;
                    count = 0;
                }
            }
            count--;
            for (; count >= 0; count--) {
                cg[out++] = size;
                this.codegenFreq[size]++;
            }
            size = nextSize;
            count = 1;
        }
        cg[out] = BAD_CODE;
    }

    private dynamicSize(lit: HuffmanEncoder, off: HuffmanEncoder, extraBits: number): [number, number] {
        let numCodegens = CODEGEN_CODE_COUNT;
        while (numCodegens > 4 && this.codegenFreq[CODEGEN_ORDER[numCodegens - 1]] === 0) numCodegens--;
        const header =
            3 + 5 + 5 + 4 + 3 * numCodegens + this.codegenEncoding.bitLength(this.codegenFreq) + this.codegenFreq[16] * 2 + this.codegenFreq[17] * 3 + this.codegenFreq[18] * 7;
        return [header + lit.bitLength(this.literalFreq) + off.bitLength(this.offsetFreq) + extraBits, numCodegens];
    }

    private writeCode(enc: HuffmanEncoder, i: number): void {
        this.writeBits(enc.code[i], enc.len[i]);
    }

    private writeDynamicHeader(numLiterals: number, numOffsets: number, numCodegens: number, eof: boolean): void {
        this.writeBits(eof ? 5 : 4, 3);
        this.writeBits(numLiterals - 257, 5);
        this.writeBits(numOffsets - 1, 5);
        this.writeBits(numCodegens - 4, 4);
        for (let i = 0; i < numCodegens; i++) this.writeBits(this.codegenEncoding.len[CODEGEN_ORDER[i]], 3);
        for (let i = 0; ; ) {
            const word = this.codegen[i++];
            if (word === BAD_CODE) break;
            this.writeCode(this.codegenEncoding, word);
            if (word === 16) this.writeBits(this.codegen[i++], 2);
            else if (word === 17) this.writeBits(this.codegen[i++], 3);
            else if (word === 18) this.writeBits(this.codegen[i++], 7);
        }
    }

    private indexTokens(tokens: number[]): [number, number] {
        this.literalFreq.fill(0);
        this.offsetFreq.fill(0);
        for (const t of tokens) {
            if (t < MATCH_TYPE) {
                this.literalFreq[t]++;
                continue;
            }
            this.literalFreq[LENGTH_CODES_START + LENGTH_CODES[(t - MATCH_TYPE) >>> LENGTH_SHIFT]]++;
            this.offsetFreq[offsetCode(t & OFFSET_MASK)]++;
        }
        let numLiterals = MAX_NUM_LIT;
        while (this.literalFreq[numLiterals - 1] === 0) numLiterals--;
        let numOffsets = OFFSET_CODE_COUNT;
        while (numOffsets > 0 && this.offsetFreq[numOffsets - 1] === 0) numOffsets--;
        if (numOffsets === 0) {
            this.offsetFreq[0] = 1;
            numOffsets = 1;
        }
        this.literalEncoding.generate(this.literalFreq, 15);
        this.offsetEncoding.generate(this.offsetFreq, 15);
        return [numLiterals, numOffsets];
    }

    /** One block: stored, fixed or dynamic, whichever is smallest (stored only when `input` is known). */
    writeBlock(tokens: number[], eof: boolean, input: Uint8Array | undefined): void {
        tokens = [...tokens, END_BLOCK_MARKER];
        const [numLiterals, numOffsets] = this.indexTokens(tokens);
        let extraBits = 0;
        const storable = input !== undefined && input.length <= MAX_STORE_BLOCK_SIZE;
        const storedSize = storable ? (input!.length + 5) * 8 : 0;
        if (storable) {
            for (let lc = LENGTH_CODES_START + 8; lc < numLiterals; lc++) extraBits += this.literalFreq[lc] * LENGTH_EXTRA_BITS[lc - LENGTH_CODES_START];
            for (let oc = 4; oc < numOffsets; oc++) extraBits += this.offsetFreq[oc] * OFFSET_EXTRA_BITS[oc];
        }
        let lit = FIXED_LITERAL;
        let off = FIXED_OFFSET;
        let size = 3 + FIXED_LITERAL.bitLength(this.literalFreq) + FIXED_OFFSET.bitLength(this.offsetFreq) + extraBits;
        this.generateCodegen(numLiterals, numOffsets, this.literalEncoding, this.offsetEncoding);
        this.codegenEncoding.generate(this.codegenFreq, 7);
        const [dynamicSize, numCodegens] = this.dynamicSize(this.literalEncoding, this.offsetEncoding, extraBits);
        if (dynamicSize < size) {
            size = dynamicSize;
            lit = this.literalEncoding;
            off = this.offsetEncoding;
        }
        if (storable && storedSize < size) {
            this.writeStoredHeader(input!.length, eof);
            this.writeBytes(input!);
            return;
        }
        if (lit === FIXED_LITERAL) this.writeBits(eof ? 3 : 2, 3);
        else this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
        for (const t of tokens) {
            if (t < MATCH_TYPE) {
                this.writeCode(lit, t);
                continue;
            }
            const length = (t - MATCH_TYPE) >>> LENGTH_SHIFT;
            const lc = LENGTH_CODES[length];
            this.writeCode(lit, lc + LENGTH_CODES_START);
            if (LENGTH_EXTRA_BITS[lc] > 0) this.writeBits(length - LENGTH_BASE[lc], LENGTH_EXTRA_BITS[lc]);
            const offset = t & OFFSET_MASK;
            const oc = offsetCode(offset);
            this.writeCode(off, oc);
            if (OFFSET_EXTRA_BITS[oc] > 0) this.writeBits(offset - OFFSET_BASE[oc], OFFSET_EXTRA_BITS[oc]);
        }
    }
}

// --- the compressor (deflate.go), level 6

const WINDOW_SIZE = 1 << 15;
const WINDOW_MASK = WINDOW_SIZE - 1;
const BASE_MATCH_LENGTH = 3;
const MIN_MATCH_LENGTH = 4;
const MAX_MATCH_LENGTH = 258;
const BASE_MATCH_OFFSET = 1;
const MAX_FLATE_BLOCK_TOKENS = 1 << 14;
const MAX_STORE_BLOCK_SIZE = 65535;
const HASH_BITS = 17;
const HASH_MASK = (1 << HASH_BITS) - 1;
const MAX_HASH_OFFSET = 1 << 24;
const LEVEL6 = { good: 8, lazy: 16, nice: 128, chain: 128 };

const hash4 = (w: Uint8Array, i: number) => Math.imul(w[i + 3] | (w[i + 2] << 8) | (w[i + 1] << 16) | (w[i] << 24), 0x1e35a7bd) >>> (32 - HASH_BITS);

/** Raw DEFLATE of `input`, as Go's flate.NewWriter(w, DefaultCompression) + Write + Close writes it. */
export function deflateGo(input: Uint8Array): Buffer {
    const w = new BitWriter();
    const window = new Uint8Array(2 * WINDOW_SIZE);
    const hashHead = new Uint32Array(1 << HASH_BITS);
    const hashPrev = new Uint32Array(WINDOW_SIZE);
    let hashOffset = 1;
    let tokens: number[] = [];
    let length = MIN_MATCH_LENGTH - 1;
    let offset = 0;
    let byteAvailable = false;
    let index = 0;
    let windowEnd = 0;
    let blockStart = 0;
    let chainHead = -1;
    let maxInsertIndex = 0;
    let sync = false;

    const writeBlock = (toks: number[], idx: number) => {
        if (idx > 0) {
            const win = blockStart <= idx ? window.subarray(blockStart, idx) : undefined;
            blockStart = idx;
            w.writeBlock(toks, false, win);
        }
    };

    const fill = (b: Uint8Array, from: number): number => {
        if (index >= 2 * WINDOW_SIZE - (MIN_MATCH_LENGTH + MAX_MATCH_LENGTH)) {
            window.copyWithin(0, WINDOW_SIZE, 2 * WINDOW_SIZE);
            index -= WINDOW_SIZE;
            windowEnd -= WINDOW_SIZE;
            blockStart = blockStart >= WINDOW_SIZE ? blockStart - WINDOW_SIZE : MAX_INT32;
            hashOffset += WINDOW_SIZE;
            if (hashOffset > MAX_HASH_OFFSET) {
                const delta = hashOffset - 1;
                hashOffset -= delta;
                chainHead -= delta;
                for (let i = 0; i < hashPrev.length; i++) hashPrev[i] = hashPrev[i] > delta ? hashPrev[i] - delta : 0;
                for (let i = 0; i < hashHead.length; i++) hashHead[i] = hashHead[i] > delta ? hashHead[i] - delta : 0;
            }
        }
        const n = Math.min(window.length - windowEnd, b.length - from);
        window.set(b.subarray(from, from + n), windowEnd);
        windowEnd += n;
        return n;
    };

    // findMatch's answer (no tuple allocated per call).
    let matchLength = 0;
    let matchOffset = 0;
    const findMatch = (pos: number, prevHead: number, prevLength: number, lookahead: number): boolean => {
        const minMatchLook = Math.min(MAX_MATCH_LENGTH, lookahead);
        const winLen = pos + minMatchLook;
        const nice = Math.min(LEVEL6.nice, winLen - pos);
        let tries = LEVEL6.chain;
        let len = prevLength;
        let off = 0;
        let ok = false;
        if (len >= LEVEL6.good) tries >>= 2;
        let wEnd = window[pos + len];
        const minIndex = pos - WINDOW_SIZE;
        for (let i = prevHead; tries > 0; tries--) {
            if (wEnd === window[i + len]) {
                let n = 0;
                while (n < minMatchLook && window[i + n] === window[pos + n]) n++;
                if (n > len && (n > MIN_MATCH_LENGTH || pos - i <= 4096)) {
                    len = n;
                    off = pos - i;
                    ok = true;
                    if (n >= nice) break;
                    wEnd = window[pos + n];
                }
            }
            if (i === minIndex) break;
            i = hashPrev[i & WINDOW_MASK] - hashOffset;
            if (i < minIndex || i < 0) break;
        }
        matchLength = len;
        matchOffset = off;
        return ok;
    };

    const deflate = () => {
        if (windowEnd - index < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH && !sync) return;
        maxInsertIndex = windowEnd - (MIN_MATCH_LENGTH - 1);
        for (;;) {
            const lookahead = windowEnd - index;
            if (lookahead < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH) {
                if (!sync) break;
                if (lookahead === 0) {
                    if (byteAvailable) {
                        tokens.push(window[index - 1]);
                        byteAvailable = false;
                    }
                    if (tokens.length > 0) {
                        writeBlock(tokens, index);
                        tokens = [];
                    }
                    break;
                }
            }
            if (index < maxInsertIndex) {
                const h = hash4(window, index) & HASH_MASK;
                chainHead = hashHead[h];
                hashPrev[index & WINDOW_MASK] = chainHead;
                hashHead[h] = index + hashOffset;
            }
            const prevLength = length;
            const prevOffset = offset;
            length = MIN_MATCH_LENGTH - 1;
            offset = 0;
            const minIndex = Math.max(0, index - WINDOW_SIZE);
            if (chainHead - hashOffset >= minIndex && lookahead > prevLength && prevLength < LEVEL6.lazy) {
                if (findMatch(index, chainHead - hashOffset, MIN_MATCH_LENGTH - 1, lookahead)) {
                    length = matchLength;
                    offset = matchOffset;
                }
            }
            if (prevLength >= MIN_MATCH_LENGTH && length <= prevLength) {
                tokens.push(MATCH_TYPE + ((prevLength - BASE_MATCH_LENGTH) << LENGTH_SHIFT) + (prevOffset - BASE_MATCH_OFFSET));
                // skipNever: every position of the match is hashed.
                const newIndex = index + prevLength - 1;
                let i = index;
                for (i++; i < newIndex; i++) {
                    if (i < maxInsertIndex) {
                        const h = hash4(window, i) & HASH_MASK;
                        hashPrev[i & WINDOW_MASK] = hashHead[h];
                        hashHead[h] = i + hashOffset;
                    }
                }
                index = i;
                byteAvailable = false;
                length = MIN_MATCH_LENGTH - 1;
                if (tokens.length === MAX_FLATE_BLOCK_TOKENS) {
                    writeBlock(tokens, index);
                    tokens = [];
                }
            } else {
                if (byteAvailable) {
                    const i = index - 1;
                    tokens.push(window[i]);
                    if (tokens.length === MAX_FLATE_BLOCK_TOKENS) {
                        writeBlock(tokens, i + 1);
                        tokens = [];
                    }
                }
                index++;
                byteAvailable = true;
            }
        }
    };

    // write(): step, then fill, until the input is taken; close(): a final step with sync, then an
    // empty final stored block.
    for (let from = 0; from < input.length; ) {
        deflate();
        from += fill(input, from);
    }
    sync = true;
    deflate();
    w.writeStoredHeader(0, true);
    w.flush();
    return w.result();
}

const CRC_TABLE = (() => {
    const t = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        t[n] = c;
    }
    return t;
})();

function crc32(b: Uint8Array): number {
    let c = -1;
    for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
    return (c ^ -1) >>> 0;
}

/** gzip as Go's gzip.NewWriter writes it: header with mtime 0 and OS 255, deflate at level 6, CRC-32 and size. */
export function gzipGo(input: Uint8Array): Buffer {
    const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(input), 0);
    trailer.writeUInt32LE(input.length >>> 0, 4);
    return Buffer.concat([header, deflateGo(input), trailer]);
}
