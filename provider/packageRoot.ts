import * as fs from "fs";
import * as path from "path";

let root: string | undefined;

/** The directory of this package's package.json, from compiled (bin/) and source files alike. */
export function packageRoot(): string {
    if (root) return root;
    for (let dir = __dirname; ; dir = path.dirname(dir)) {
        const pj = path.join(dir, "package.json");
        if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, "utf8")).name === "pulumi-compute-instance")
            return (root = dir);
        if (path.dirname(dir) === dir)
            throw new Error(`pulumi-compute-instance: package.json not found above ${__dirname}`);
    }
}

export function packageVersion(): string {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string })
        .version;
}
