import * as pulumi from "@pulumi/pulumi";
import { ComputeInstance, Workspace } from "pulumi-compute-instance";

const config = new pulumi.Config();
const namespace = config.require("namespace");

// KUBECONFIG (or ~/.kube/config) and its current context, unless the stack says otherwise.
const workspace = new Workspace(namespace.slice(0, 24), {
    backend: {
        kubernetes: { namespace, kubeconfig: config.get("kubeconfig"), storageClass: config.get("storageClass") },
    },
    image: config.require("image"),
});

const instance = new ComputeInstance(config.require("instanceName"), {
    workspace,
    size: config.require("size"),
});

export const jupyterLab = instance.endpoints.jupyterLab;
export const portForward = pulumi.interpolate`kubectl -n ${namespace} port-forward svc/ci-${workspace.workspaceName}-${config.require("instanceName")} 8888`;
export const token = instance.token;
