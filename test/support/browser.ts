/** Headless Chromium (Debian's) driven by playwright-core: no browser download. */
import { Browser, chromium } from "playwright-core";
import * as fs from "fs";

export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((p) =>
    fs.existsSync(p),
);

export async function launchBrowser(): Promise<Browser> {
    if (!CHROMIUM) throw new Error("no Chromium found (scripts/bootstrap --for-tests installs Debian's chromium)");
    return chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        // Keep Chromium off the network: only the instance on loopback is visited.
        args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ],
    });
}
