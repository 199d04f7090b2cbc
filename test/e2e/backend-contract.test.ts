// One contract, every backend: what the providers rely on, checked against the real Docker
// engine and the real Kubernetes API server (scripts/cluster), without Pulumi in between; on
// Kubernetes both with simulated pods and with pods that really run on the cluster's real node.
// The cases are in test/support/backendContract.ts; test/unit/backend-contract-fake.test.ts
// holds the in-memory fake to the same ones.
// @lane kubernetes: it runs pods on the local cluster (scripts/lib/test-lanes.js).
import { describeBackendContract } from "../support/backendContract";
import { dockerUnderTest, kubernetesUnderTest } from "../support/backends";
import { uniqueWorkspace } from "../support/stacks";

describeBackendContract("docker", () => dockerUnderTest);
describeBackendContract("kubernetes", () => kubernetesUnderTest(uniqueWorkspace("ns")));
describeBackendContract("kubernetes (real node)", () => kubernetesUnderTest(uniqueWorkspace("ns"), "real"));
