export * from "./canary";
export * from "./mesh";
export * from "./receiver";
export * from "./registry";
