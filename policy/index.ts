/**
 * The platform's guardrails, served as a CrossGuard policy pack:
 *
 *   pulumi preview --stack prod --policy-pack policy
 *
 * The policies live in policies.ts (tests drive them directly); this file only serves them.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("gitops-guardrails", { policies });
