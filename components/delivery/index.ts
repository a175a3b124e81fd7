export * from "./canary";
export * from "./mesh";
