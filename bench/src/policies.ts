export async function run(_opts: { json: boolean }): Promise<void> {}
