/** The cluster side of the reconcile engine. No Pulumi imports. */
export * from "./ids";
export * from "./retry";
export * from "./client";
export * from "./compare";
export * from "./kstatus";
export * from "./plan";
export * from "./apply";
export * from "./inventory";
export * from "./strays";
export * from "./wait";
export * from "./diff";
export * from "./secrets";
export * from "./kubeconfig";
