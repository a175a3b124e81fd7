/**
 * Inventory as you go: an apply can be killed at any point (a crashed `pulumi up`, a CI job
 * cancelled), and whatever it created must still be pruned by a later run, even when that run
 * declares a different set of objects.
 *
 * Before anything is written, the store records the intended set: the previous inventory plus
 * every object this run may create. Only after apply and prune succeed does it record the final
 * inventory. A run that dies in between leaves the union recorded, so the next run prunes from it.
 *
 * Stores: a JSON file (`gitops cluster apply --inventory FILE`), and a ConfigMap in kube-system
 * (the reconcile engine: the record lives with the cluster, so a run from another machine sees it).
 */
import * as fs from "fs";
import * as path from "path";
import { GitopsError } from "../errors";
import { KubeObject } from "../flux/api";
import { ApplyOptions, applyStaged, ApplyResult, prune, PruneResult } from "./apply";
import { ClusterClient } from "./client";
import { Inventory, InventoryEntry, normalizeInventory, objectId, splitApiVersion } from "./ids";
import { resolveObjects } from "./plan";

/** Where an inventory is kept between runs. */
export interface InventoryStore {
    /** For messages: the file, or the ConfigMap's id. */
    readonly where: string;
    /** The recorded inventory, or undefined when none was recorded yet. */
    read(): Promise<Inventory | undefined>;
    /** Records `inv`, atomically: a reader sees the old or the new record, never a mix. */
    write(inv: Inventory): Promise<void>;
}

/** Entries of either inventory, one per id (`b` wins on the version). */
export function unionInventory(a: Inventory | undefined, b: Inventory | undefined): Inventory {
    return normalizeInventory([...(a?.entries ?? []), ...(b?.entries ?? [])]);
}

function parseInventory(text: string, where: string): Inventory {
    try {
        const v = JSON.parse(text) as Inventory;
        if (!v || !Array.isArray(v.entries) || v.entries.some((e: InventoryEntry) => typeof e?.id !== "string" || typeof e?.v !== "string")) {
            throw new Error("no entries array of {id, v}");
        }
        return normalizeInventory(v.entries);
    } catch (err) {
        throw new GitopsError(where, `not an inventory: ${(err as Error).message}`, 'expected {"entries":[{"id":"<ns>_<name>_<group>_<kind>","v":"v1"}]}');
    }
}

/** An inventory kept in a JSON file, replaced atomically (temporary sibling, then rename). */
export function fileInventoryStore(file: string): InventoryStore {
    return {
        where: file,
        async read() {
            let text: string;
            try {
                text = fs.readFileSync(file, "utf8");
            } catch (err) {
                if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
                throw new GitopsError(file, `cannot read the inventory: ${(err as Error).message}`);
            }
            return parseInventory(text, file);
        },
        async write(inv) {
            const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
            try {
                fs.writeFileSync(tmp, JSON.stringify(inv, null, 2) + "\n");
                fs.renameSync(tmp, file);
            } catch (err) {
                fs.rmSync(tmp, { force: true });
                throw new GitopsError(file, `cannot write the inventory: ${(err as Error).message}`, "check that the folder exists and is writable");
            }
        },
    };
}

/** The field manager of the inventory record: it is bookkeeping, not one of the applied objects. */
export const INVENTORY_FIELD_MANAGER = "gitops-platform-inventory";
const INVENTORY_KEY = "inventory.json";

/** An inventory kept in a ConfigMap (default namespace kube-system, which every cluster has). */
export function clusterInventoryStore(client: ClusterClient, name: string, namespace = "kube-system"): InventoryStore {
    const where = `${namespace}_${name}__ConfigMap`;
    return {
        where,
        async read() {
            const cm = await client.get("v1", "ConfigMap", name, namespace);
            const text = (cm as { data?: Record<string, string> } | undefined)?.data?.[INVENTORY_KEY];
            return text === undefined ? undefined : parseInventory(text, where);
        },
        async write(inv) {
            const cm: KubeObject = {
                apiVersion: "v1",
                kind: "ConfigMap",
                metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": "gitops-platform" } },
                data: { [INVENTORY_KEY]: JSON.stringify(inv) },
            } as KubeObject;
            await client.apply(cm, { fieldManager: INVENTORY_FIELD_MANAGER });
        },
    };
}

export interface InventoryApplyOptions extends ApplyOptions {
    /** Where the inventory is recorded as the run goes. */
    readonly store: InventoryStore;
    /** An inventory known from elsewhere (Pulumi state); joined with the recorded one. */
    readonly previous?: Inventory;
    /** Delete what left the inventory. Default true. */
    readonly prune?: boolean;
}

export interface InventoryApplyResult {
    readonly applied: ApplyResult;
    /** Undefined when prune was off. */
    readonly pruned?: PruneResult;
    /** The inventory recorded at the end: what is applied and not deleted. */
    readonly inventory: Inventory;
}

/** The inventory a run starts from: the recorded one joined with the one known from elsewhere. */
export async function previousInventory(store: InventoryStore, known?: Inventory): Promise<Inventory | undefined> {
    const recorded = await store.read();
    return recorded || known ? unionInventory(known, recorded) : undefined;
}

/**
 * Applies `objects` in stages and prunes what left the inventory, recording the intended set in
 * `store` before the first write and the final inventory after the last. A run that fails or is
 * killed in between leaves every object it may have created recorded, for the next run to prune.
 */
export async function applyWithInventory(client: ClusterClient, objects: readonly KubeObject[], opts: InventoryApplyOptions): Promise<InventoryApplyResult> {
    const old = await previousInventory(opts.store, opts.previous);
    // The ids this run may create (checked and namespaced as the apply will), recorded first.
    const intended = normalizeInventory((await resolveObjects(client, objects)).map((d) => ({ id: d.id, v: splitApiVersion(d.obj.apiVersion).version })));
    await opts.store.write(unionInventory(old, intended));
    const applied = await applyStaged(client, objects, opts);
    if (opts.prune === false) {
        // Nothing deleted: what left the inventory is still live, and stays recorded for a later prune.
        const inventory = unionInventory(old, applied.inventory);
        await opts.store.write(inventory);
        return { applied, inventory };
    }
    const pruned = await prune(client, old, applied.inventory, opts);
    await opts.store.write(pruned.inventory);
    return { applied, pruned, inventory: pruned.inventory };
}
