// The backend contract (test/support/backendContract.ts), which the real Docker and Kubernetes
// backends keep end to end, kept by the in-memory fake as each of them: a unit test that passes
// against the fake relies on nothing the real backends do not promise.
import { describeBackendContract } from "../support/backendContract";
import { fakeUnderTest } from "../support/fakeBackend";

describeBackendContract("fake docker", () => fakeUnderTest({ like: "docker" }));
describeBackendContract("fake kubernetes", () => fakeUnderTest({ like: "kubernetes" }));
