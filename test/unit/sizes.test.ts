import { DEFAULT_SIZE_NAME, SIZE_CATALOG, defaultTempDiskGb, findSize, sizeNames } from "../../provider/model/sizes";

describe("size catalog", () => {
    test("the default is Standard_DS3_v2 with Azure's published figures", () => {
        expect(DEFAULT_SIZE_NAME).toBe("Standard_DS3_v2");
        expect(findSize(DEFAULT_SIZE_NAME)).toMatchObject({ cpus: 4, memoryGb: 14, tempDiskGb: 28, gpus: 0 });
    });

    test.each([
        ["Standard_DS1_v2", 1, 3.5, 7, 0],
        ["Standard_DS12_v2", 4, 28, 56, 0],
        ["Standard_D4s_v3", 4, 16, 32, 0],
        ["Standard_E4s_v3", 4, 32, 64, 0],
        ["Standard_NC6s_v3", 6, 112, 736, 1],
        ["Standard_NC4as_T4_v3", 4, 28, 180, 1],
        ["Standard_NC24ads_A100_v4", 24, 220, 64, 1],
    ])("%s has %d vCPU, %d GiB, %d GiB temp, %d GPU", (name, cpus, memoryGb, tempDiskGb, gpus) => {
        expect(findSize(name)).toMatchObject({ name, cpus, memoryGb, tempDiskGb, gpus });
    });

    test("names match ignoring case and surrounding spaces, reported canonically", () => {
        expect(findSize(" standard_ds3_V2 ")?.name).toBe("Standard_DS3_v2");
        expect(findSize("Standard_DS3")).toBeUndefined();
    });

    test("names are unique and every GPU size names its GPU", () => {
        expect(new Set(sizeNames().map((n) => n.toLowerCase())).size).toBe(SIZE_CATALOG.length);
        for (const s of SIZE_CATALOG) {
            expect(s.cpus).toBeGreaterThan(0);
            if (s.gpus > 0) expect(s.gpuModel).toMatch(/NVIDIA/);
        }
    });

    test("a custom size's temp disk defaults to twice its memory", () => {
        expect(defaultTempDiskGb(8)).toBe(16);
        expect(defaultTempDiskGb(0.2)).toBe(1);
    });
});
