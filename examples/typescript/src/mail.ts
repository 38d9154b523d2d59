// Reading the mail shop sends. Without SMTP_HOST, shop saves each mail as an .eml file under
// DATA_DIR/mail; its body may be quoted-printable or base64, so it is decoded before the link is read.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

interface Part {
  headers: Map<string, string>;
  body: string;
}

function parsePart(raw: string): Part {
  const text = raw.replace(/\r\n/g, "\n");
  const split = text.indexOf("\n\n");
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? "" : text.slice(split + 2);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeQuotedPrintable(body: string): string {
  const bytes: number[] = [];
  const joined = body.replace(/=\n/g, "");
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i] ?? "", "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The text of a message: every text part, decoded, one after the other. */
function text(part: Part): string {
  const type = part.headers.get("content-type") ?? "text/plain";
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (type.toLowerCase().startsWith("multipart/") && boundary !== undefined) {
    return part.body
      .split(`--${boundary}`)
      .slice(1)
      .filter((chunk) => !chunk.startsWith("--"))
      .map((chunk) => text(parsePart(chunk.replace(/^\n/, ""))))
      .join("\n");
  }
  const encoding = (part.headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  if (encoding === "quoted-printable") return decodeQuotedPrintable(part.body);
  if (encoding === "base64") return Buffer.from(part.body.replace(/\s+/g, ""), "base64").toString("utf8");
  return part.body;
}

/**
 * Waits for the mail to `recipient` that holds a link to `page` (`verify-email`, `reset-password`)
 * and answers the link's token. Mail leaves through shop's outbox, so it may take a moment.
 */
export async function tokenFromMail(folder: string, recipient: string, page: string): Promise<string> {
  const pattern = new RegExp(`/${page}\\?token=([A-Za-z0-9._~%-]+)`);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith(".eml")).sort()) {
      const message = parsePart(await readFile(join(folder, name), "utf8"));
      if (!(message.headers.get("to") ?? "").includes(recipient)) continue;
      const match = pattern.exec(text(message));
      if (match?.[1] !== undefined) return decodeURIComponent(match[1]);
    }
    await sleep(100);
  }
  throw new Error(`no mail to ${recipient} with a /${page} link in ${folder}`);
}
