/**
 * The dynamic resources. Their provider objects are serialised into the state by Pulumi's closure
 * serialisation, so each one captures nothing but its kind's name and loads the implementation
 * by package name inside the plugin: the state stays small, and upgrading this package changes
 * behaviour without showing the serialised provider as a change.
 */
import * as pulumi from "@pulumi/pulumi";
import type { KindName } from "./dispatch";

/** Module of every dynamic resource's type token: `pulumi-nodejs:dynamic/compute-instance:<Kind>`. */
export const TYPE_MODULE = "compute-instance";

const providers = new Map<KindName, pulumi.dynamic.ResourceProvider>();

export function providerFor(kind: KindName): pulumi.dynamic.ResourceProvider {
    let p = providers.get(kind);
    if (!p) {
        // Resolved from the program's directory, where the plugin runs: the same installed copy the program uses.
        const impl = () => require("pulumi-compute-instance/bin/provider/dispatch");
        p = {
            check: (olds, news) => impl().check(kind, olds, news),
            diff: (id, olds, news) => impl().diff(kind, id, olds, news),
            create: (inputs) => impl().create(kind, inputs),
            read: (id, props) => impl().read(kind, id, props),
            update: (id, olds, news) => impl().update(kind, id, olds, news),
            delete: (id, props) => impl().remove(kind, id, props),
        };
        providers.set(kind, p);
    }
    return p;
}

/** A dynamic resource of one of this package's kinds. Outputs are read through `get`. */
export class KindResource extends pulumi.dynamic.Resource {
    /**
     * @param outputs names of properties the provider adds; the SDK only makes outputs for
     *   properties it was given, so they are passed as undefined (which sends nothing).
     */
    constructor(kind: KindName, name: string, props: pulumi.Inputs, outputs: readonly string[], opts?: pulumi.CustomResourceOptions) {
        super(providerFor(kind), name, { ...Object.fromEntries(outputs.map((o) => [o, undefined])), ...props }, opts, TYPE_MODULE, kind);
    }

    /** An output property by name (dynamic resources declare theirs at run time). */
    get<T>(property: string): pulumi.Output<T> {
        return (this as unknown as Record<string, pulumi.Output<T>>)[property];
    }
}
