/**
 * Render a Kustomization path as Flux's kustomize-controller would: kustomize build (with a
 * generated kustomization.yaml when the path has none), then postBuild variable substitution.
 */
export { envsubst, parseTemplate, EnvsubstError } from "./envsubst";
export type { Lookup } from "./envsubst";
export { objectId, parseObjectId, groupOf } from "../cluster/ids";
export type { ObjectKey as ObjectRef } from "../cluster/ids";
export { substituteVariables, loadVariables, splitDocuments, joinDocuments, VAR_NAME_PATTERN } from "./substitute";
export type { RenderedObject, SubstituteOptions, VarSourceObject } from "./substitute";
export { renderPath, kustomizeBuild, kustomizeBinary, resolveInside, FLUX_BUILD_FLAGS } from "./render";
export type { RenderOptions, RenderResult } from "./render";
export { generateKustomization, scanResources, hasKustomizationFile, KUSTOMIZATION_FILES } from "./generate";
export { yamlLoaderName, useYamlLoader } from "./yamlparse";
export { renderRevision, renderRevisions, renderCacheDir, foldersRead, readSnapshot, renderKey } from "./cache";
export type { RevisionItem, RevisionRender, RenderRevisionOptions, CacheStatus, ReadSet, TreeSnapshot } from "./cache";
export { previewRevisions } from "./preview";
export type { RenderPreview, RenderChange, RenderChangeAction } from "./preview";
