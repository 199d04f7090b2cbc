// The quickstart: one workspace and one compute instance on the local Docker engine.
//   ./scripts/quickstart        (or: pulumi up, once scripts/bootstrap has run)
import * as pulumi from "@pulumi/pulumi";
import { ComputeInstance, Workspace } from "pulumi-compute-instance";

const config = new pulumi.Config();

const workspace = new Workspace("quickstart", {
    backend: { docker: {} },
});

const instance = new ComputeInstance("alice", {
    workspace,
    size: config.get("size") ?? "Standard_DS2_v2",
});

export const instanceId = instance.instanceId;
export const status = instance.status;
export const jupyterLab = instance.endpoints.jupyterLab;
export const jupyter = instance.endpoints.jupyter;
/** Open this in a browser: JupyterLab with the token in the URL (`pulumi stack output --show-secrets loginUrl`). */
export const loginUrl = pulumi.secret(pulumi.interpolate`${instance.endpoints.jupyterLab}?token=${instance.token}`);
