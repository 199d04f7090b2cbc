// No zod here: the compute-instance CLI parses --timeout with this, and its start-up time counts (bench/power).
/**
 * Durations as users write them: `90s`, `30m`, `1h30m`, `2h`, or ISO 8601 (`PT30M`, Azure's
 * idleTimeBeforeShutdown format). Returns seconds, or undefined when the text is not a duration.
 */
export function parseDurationSeconds(text: string): number | undefined {
    const t = text.trim();
    const short = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/i.exec(t);
    if (short && t !== "" && (short[1] ?? short[2] ?? short[3]) !== undefined) {
        return Number(short[1] ?? 0) * 3600 + Number(short[2] ?? 0) * 60 + Number(short[3] ?? 0);
    }
    const iso = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(t);
    if (iso && /\d/.test(t) && !/T$/i.test(t)) {
        return (
            Number(iso[1] ?? 0) * 86400 +
            Number(iso[2] ?? 0) * 3600 +
            Number(iso[3] ?? 0) * 60 +
            Math.round(Number(iso[4] ?? 0))
        );
    }
    return undefined;
}

export function formatDuration(seconds: number): string {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return [h ? `${h}h` : "", m ? `${m}m` : "", s || (!h && !m) ? `${s}s` : ""].join("");
}
