import * as pulumi from "@pulumi/pulumi";
import { ComputeInstance, Workspace } from "pulumi-compute-instance";

const config = new pulumi.Config();

// The local Docker engine (or DOCKER_HOST); user files are kept if the workspace is deleted.
const workspace = new Workspace(config.require("workspaceName"), {
    backend: { docker: {} },
});

const instance = new ComputeInstance(config.require("instanceName"), {
    workspace,
    size: config.require("size"),
});

export const jupyterLab = instance.endpoints.jupyterLab;
/** `pulumi stack output --show-secrets loginUrl` */
export const loginUrl = pulumi.secret(pulumi.interpolate`${instance.endpoints.jupyterLab}?token=${instance.token}`);
