/**
 * Headless Chromium for the browser tests and benchmark: Debian's /usr/bin/chromium driven by
 * playwright-core (no browser download), with a fresh profile and the flags that keep it off the
 * network; and the demo served by `bnff serve`'s server on a free localhost port.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = process.env.BNFF_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium), as .ci/run does, or set BNFF_CHROMIUM`;
}

export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A browser with a fresh profile; close() also removes the profile. */
export async function launchChromium(o: { downloads?: boolean } = {}): Promise<BrowserContext & { dispose(): Promise<void> }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, acceptDownloads: o.downloads ?? true, viewport: { width: 1280, height: 900 } });
  return Object.assign(ctx, {
    async dispose(): Promise<void> {
      await ctx.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  });
}
