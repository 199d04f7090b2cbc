/**
 * Golden files: checked-in text that a test's output must equal. UPDATE_GOLDEN=1 rewrites them
 * (review the diff before committing it); a missing one is written and the test fails once.
 */
import * as fs from "fs";
import * as path from "path";

export const GOLDEN_DIR = path.join(__dirname, "..", "e2e", "golden");

export function expectGolden(name: string, actual: string): void {
    const file = path.join(GOLDEN_DIR, `${name}.txt`);
    if (process.env.UPDATE_GOLDEN === "1" || !fs.existsSync(file)) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, actual);
        if (process.env.UPDATE_GOLDEN !== "1")
            throw new Error(`wrote the missing golden file ${file}; review it and run again`);
    }
    expect(actual).toBe(fs.readFileSync(file, "utf8"));
}
