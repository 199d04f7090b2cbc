/**
 * The dynamic resources. Their provider object is serialised into the state by Pulumi's closure
 * serialisation, so it captures nothing and loads the implementation by package name inside the
 * plugin: the state stays small, and upgrading this package changes behaviour without showing
 * the serialised provider as a change.
 */
import * as pulumi from "@pulumi/pulumi";
import type { KindName } from "./dispatch";
import { KIND_KEY } from "./kindKey";

/** Module of every dynamic resource's type token: `pulumi-nodejs:dynamic/compute-instance:<Kind>`. */
export const TYPE_MODULE = "compute-instance";


let shared: pulumi.dynamic.ResourceProvider | undefined;

/**
 * One provider object for every kind (the kind travels in the inputs): Pulumi serialises each
 * distinct provider object once per program run, and serialisation costs ~80 ms an object.
 */
export function sharedProvider(): pulumi.dynamic.ResourceProvider {
    if (!shared) {
        // Resolved from the program's directory, where the plugin runs: the same installed copy the program uses.
        const impl = () => require("pulumi-compute-instance/bin/provider/dispatch");
        shared = {
            check: (olds, news) => impl().check(olds, news),
            diff: (id, olds, news) => impl().diff(id, olds, news),
            create: (inputs) => impl().create(inputs),
            read: (id, props) => impl().read(id, props),
            update: (id, olds, news) => impl().update(id, olds, news),
            delete: (id, props) => impl().remove(id, props),
        };
    }
    return shared;
}

/** A dynamic resource of one of this package's kinds. Outputs are read through `get`. */
export class KindResource extends pulumi.dynamic.Resource {
    /**
     * @param outputs names of properties the provider adds; the SDK only makes outputs for
     *   properties it was given, so they are passed as undefined (which sends nothing).
     */
    constructor(kind: KindName, name: string, props: pulumi.Inputs, outputs: readonly string[], opts?: pulumi.CustomResourceOptions) {
        // Its own URN, so the provider can put progress and change summaries on its row. Taken
        // as plain text: an input that depends on the parent component would wait for all of
        // the component's children, this one among them.
        const urn = pulumi.createUrn(name, `pulumi-nodejs:dynamic/${TYPE_MODULE}:${kind}`, opts?.parent);
        const progressUrn = pulumi.output(new Promise<string>((resolve) => urn.apply(resolve)));
        super(sharedProvider(), name, { ...Object.fromEntries(outputs.map((o) => [o, undefined])), progressUrn, ...props, [KIND_KEY]: kind }, opts, TYPE_MODULE, kind);
    }

    /** An output property by name (dynamic resources declare theirs at run time). */
    get<T>(property: string): pulumi.Output<T> {
        return (this as unknown as Record<string, pulumi.Output<T>>)[property];
    }
}
