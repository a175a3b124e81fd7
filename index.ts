/**
 * The platform program: one Pulumi stack per environment (dev, test, prod). Reads the stack's
 * validated config, creates (or adopts) the cluster, bootstraps Flux, and keeps the fleet repo and
 * the cluster consistent through FleetSync. See README.md.
 */
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "./components/config";
import { GitopsError } from "./engine/errors";
import { Platform } from "./components/platform";
import { stackDeliveryOutputs } from "./engine/report/metrics";

const { config, secrets } = stackConfig();

/** The validated stack config. A config error is reported as its message (file, key, fix), without a stack trace. */
function stackConfig(): ReturnType<typeof readStackConfig> {
    try {
        return readStackConfig(pulumi.getStack(), __dirname);
    } catch (e) {
        if (e instanceof GitopsError) throw new pulumi.RunError(e.message);
        throw e;
    }
}
const actionsSecretNames = Object.keys(new pulumi.Config("gitops").getObject<Record<string, string>>("actionsSecrets") ?? {});
const platform = new Platform(config.stack, { config, secrets, projectDir: __dirname, actionsSecretNames });

export const environment = config.stack;
export const clusterKind = config.cluster.kind;
export const clusterName = platform.cluster?.clusterName;
/** Kubeconfig of the environment's cluster (secret). */
export const kubeconfig = platform.cluster ? pulumi.secret(platform.cluster.kubeconfig) : undefined;
export const fleetRepository = platform.fleetUrl;
export const fleetBranch = config.fleet.branch;
export const fleetPath = config.fleet.path;
export const fleetFiles = Object.keys(platform.plan.files).length;
/** The fleet commit this environment declares. */
export const fleetCommit = platform.fleetSync.commit;
/** The revision Flux reported as applied by every Kustomization (undefined without a cluster). */
export const appliedRevision = platform.fleetSync.appliedRevision;
/** Seconds to recover a replaced cluster from Git, when the last run did that. */
export const recoverySeconds = platform.fleetSync.recoverySeconds;
export const reconcileSummary = platform.fleetSync.summary;
export const deployKeyPublic = platform.bootstrap?.publicKey;
export const kustomizations = platform.plan.kustomizations;
/** Per app with a canary: analysis steps, minimum seconds to full promotion, seconds to roll back. */
export const canaries = platform.canaryTimes;
/** The GitHub webhook URL (or path) of the fleet Receiver (secret: it is derived from the token). */
export const receiverWebhookUrl = platform.receiverWebhookUrl;
/**
 * Delivery metrics of this environment (deployment frequency, lead time, change failure rate,
 * time to restore), read from the fleet repo's history after the sync. Not computed in preview.
 */
export const deliveryMetrics = pulumi.runtime.isDryRun()
    ? undefined
    : platform.fleetSync.commit.apply(async () => {
          try {
              return await stackDeliveryOutputs(platform.fleetUrl, config.stack);
          } catch (e) {
              pulumi.log.warn(`delivery metrics for ${config.stack} are not available: ${(e as Error).message}`);
              return undefined;
          }
      });
