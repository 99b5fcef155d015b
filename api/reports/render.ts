/**
 * Report formats from one localized document: HTML (self-contained, inline SVG charts from ECharts'
 * server-side renderer, inline CSS), PDF (pdfkit with an embedded, subset CJK font from an npm package),
 * XLSX (exceljs, a sheet per section) and JSON.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as echarts from 'echarts';
import ExcelJS from 'exceljs';
import PDFDocument from 'pdfkit';
import SVGtoPDF from 'svg-to-pdfkit';
import type { LocalDoc, LocalTable } from './content.ts';

export type Format = 'json' | 'html' | 'pdf' | 'xlsx';
export const FORMATS: readonly Format[] = ['json', 'html', 'pdf', 'xlsx'];
export const CONTENT_TYPES: Record<Format, string> = {
  json: 'application/json; charset=utf-8',
  html: 'text/html; charset=utf-8',
  pdf: 'application/pdf',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

const require = createRequire(import.meta.url);
/** Noto Sans Hans (SIL OFL) shipped by @embedpdf/fonts-sc; pdfkit embeds only the glyphs used. */
export const CJK_FONT_PATH = path.join(
  path.dirname(require.resolve('@embedpdf/fonts-sc')),
  '..',
  'fonts',
  'NotoSansHans-Regular.otf',
);
const FONT_FAMILY = "'Noto Sans SC','Noto Sans Hans','PingFang SC','Microsoft YaHei',sans-serif";

type Chart = LocalDoc['sections'][number]['charts'][number];

/** One chart as an SVG string (ECharts server-side rendering, no browser, no animation). */
export function chartSvg(c: Chart, width = 720, height = 300): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: FONT_FAMILY },
      title: { text: `${c.title}（${c.unit}）`, left: 'center', textStyle: { fontSize: 14 } },
      legend: c.series.length > 1 ? { bottom: 0 } : undefined,
      grid: { left: 70, right: 20, top: 40, bottom: c.series.length > 1 ? 60 : 40 },
      xAxis: {
        type: 'category',
        data: c.categories,
        axisLabel: {
          interval: c.categories.length > 12 ? 'auto' : 0,
          rotate: c.categories.length > 6 ? 30 : 0,
          fontSize: 10,
        },
      },
      yAxis: { type: 'value', axisLabel: { fontSize: 10 } },
      series: c.series.map((s) => ({
        type: c.type,
        name: s.name,
        data: s.data,
        showSymbol: c.type === 'line' && c.categories.length <= 31,
      })),
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const CST_MS = 8 * 3600_000;
/** `2026-10-01 – 2026-10-31 (Asia/Shanghai)`: the period's first and last day in local dates. */
function periodText(doc: LocalDoc): string {
  const day = (ms: number) => new Date(ms + CST_MS).toISOString().slice(0, 10);
  const from = Date.parse(doc.meta.from);
  const last = Date.parse(doc.meta.to) - 1;
  return `${day(from)}${day(from) === day(last) ? '' : ` – ${day(last)}`} (Asia/Shanghai)`;
}
const cstTime = (iso: string) =>
  `${new Date(Date.parse(iso) + CST_MS).toISOString().slice(0, 16).replace('T', ' ')} +08:00`;

const esc = (s: unknown) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );
const fmt = (v: unknown, type: 'text' | 'number') =>
  v === null || v === undefined
    ? '—'
    : type === 'number' && typeof v === 'number'
      ? v.toLocaleString('en-US', { maximumFractionDigits: 2 })
      : String(v);
const header = (c: LocalTable['columns'][number]) => (c.unit ? `${c.label} (${c.unit})` : c.label);

/** Renders every chart once; HTML and PDF share them. */
export function renderCharts(doc: LocalDoc): Map<string, string> {
  const m = new Map<string, string>();
  for (const s of doc.sections) for (const c of s.charts) if (c.categories.length) m.set(c.id, chartSvg(c));
  return m;
}

export function renderHtml(doc: LocalDoc, svgs = renderCharts(doc)): string {
  const zh = doc.meta.lang === 'zh';
  const parts: string[] = [];
  parts.push(`<!doctype html><html lang="${zh ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><title>${esc(doc.meta.title)}</title><style>
body{font-family:${FONT_FAMILY};margin:24px;color:#222}h1{font-size:22px}h2{font-size:18px;border-bottom:2px solid #345;padding-bottom:4px;margin-top:28px}
h3{font-size:14px;margin:16px 0 6px}table{border-collapse:collapse;font-size:12px;margin-bottom:8px}th,td{border:1px solid #bbb;padding:3px 6px}
th{background:#eef2f6}td.n{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#555;font-size:12px}.note{color:#666;font-size:12px}.chart{margin:8px 0}
</style></head><body>`);
  parts.push(
    `<h1>${esc(doc.meta.title)}</h1><p class="meta">${zh ? '时段' : 'Period'}: ${esc(periodText(doc))} · ${zh ? '生成时间' : 'Generated'}: ${esc(cstTime(doc.meta.generatedAt))}</p>`,
  );
  for (const s of doc.sections) {
    parts.push(`<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>`);
    if (s.note) parts.push(`<p class="note">${esc(s.note)}</p>`);
    for (const c of s.charts) {
      const svg = svgs.get(c.id);
      if (svg) parts.push(`<div class="chart">${svg}</div>`);
    }
    for (const t of s.tables) {
      parts.push(
        `<h3>${esc(t.title)}</h3><table><thead><tr>${t.columns.map((c) => `<th>${esc(header(c))}</th>`).join('')}</tr></thead><tbody>`,
      );
      if (!t.rows.length)
        parts.push(
          `<tr><td colspan="${t.columns.length}">${zh ? '本期无数据' : 'no data for the period'}</td></tr>`,
        );
      for (const r of t.rows)
        parts.push(
          `<tr>${t.columns.map((c) => `<td${c.type === 'number' ? ' class="n"' : ''}>${esc(fmt(r[c.key], c.type))}</td>`).join('')}</tr>`,
        );
      parts.push('</tbody></table>');
    }
    parts.push('</section>');
  }
  parts.push('</body></html>');
  return parts.join('\n');
}

function collect(doc: PDFKit.PDFDocument): Promise<Buffer> {
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
}

export async function renderPdf(doc: LocalDoc, svgs = renderCharts(doc)): Promise<Buffer> {
  const pdf = new PDFDocument({
    size: 'A4',
    margin: 40,
    info: { Title: doc.meta.title, Producer: 'coalflow' },
  });
  const done = collect(pdf);
  pdf.registerFont('cjk', CJK_FONT_PATH);
  pdf.font('cjk');
  const width = pdf.page.width - 80;
  const bottom = () => pdf.page.height - 40;
  const ensure = (h: number) => {
    if (pdf.y + h > bottom()) pdf.addPage();
  };
  pdf.fontSize(18).text(doc.meta.title);
  pdf
    .fontSize(9)
    .fillColor('#555')
    .text(
      `${doc.meta.lang === 'zh' ? '时段' : 'Period'}: ${periodText(doc)} · ${doc.meta.lang === 'zh' ? '生成时间' : 'Generated'}: ${cstTime(doc.meta.generatedAt)}`,
    )
    .fillColor('#000');
  for (const s of doc.sections) {
    ensure(160);
    pdf.moveDown(0.8).fontSize(14).text(s.title);
    if (s.note) pdf.fontSize(9).fillColor('#666').text(s.note).fillColor('#000');
    for (const c of s.charts) {
      const svg = svgs.get(c.id);
      if (!svg) continue;
      const h = width * (300 / 720);
      ensure(h + 10);
      SVGtoPDF(pdf, svg, 40, pdf.y + 4, { width, height: h, fontCallback: () => 'cjk' });
      pdf.y += h + 10;
    }
    for (const t of s.tables) {
      ensure(40);
      pdf.x = 40;
      pdf.moveDown(0.4).fontSize(10).text(t.title, 40);
      const colW = width / t.columns.length;
      const fs = t.columns.length > 8 ? 6 : 7.5;
      const row = (cells: string[], head: boolean) => {
        pdf.fontSize(fs);
        const h = Math.max(...cells.map((c) => pdf.heightOfString(c, { width: colW - 4 }))) + 4;
        if (pdf.y + h > bottom()) pdf.addPage();
        const y = pdf.y;
        if (head) pdf.rect(40, y, width, h).fill('#eef2f6').fillColor('#000');
        cells.forEach((c, i) =>
          pdf.text(c, 40 + i * colW + 2, y + 2, {
            width: colW - 4,
            align: !head && t.columns[i]!.type === 'number' ? 'right' : 'left',
            lineBreak: true,
          }),
        );
        pdf
          .moveTo(40, y + h)
          .lineTo(40 + width, y + h)
          .lineWidth(0.3)
          .strokeColor('#bbb')
          .stroke();
        pdf.y = y + h;
      };
      row(t.columns.map(header), true);
      for (const r of t.rows)
        row(
          t.columns.map((c) => fmt(r[c.key], c.type)),
          false,
        );
      if (!t.rows.length)
        row(
          [
            doc.meta.lang === 'zh' ? '本期无数据' : 'no data for the period',
            ...t.columns.slice(1).map(() => ''),
          ],
          false,
        );
      pdf.x = 40;
    }
  }
  pdf.end();
  return done;
}

/** Text that a spreadsheet would read as a formula (=, +, -, @, tab, CR) is prefixed with an apostrophe. */
export function escapeFormula(s: string): string {
  return /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

const sheetName = (s: string, used: Set<string>) => {
  let n = s.replace(/[\\/?*[\]:]/g, ' ').slice(0, 31) || 'Sheet';
  for (let i = 2; used.has(n); i++) n = `${n.slice(0, 28)} ${i}`;
  used.add(n);
  return n;
};

/** One sheet per section; each table starts with its title row then a header row with units. */
export async function renderXlsx(doc: LocalDoc): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'coalflow';
  wb.title = doc.meta.title;
  const used = new Set<string>();
  const info = wb.addWorksheet(sheetName(doc.meta.lang === 'zh' ? '说明' : 'About', used));
  info.addRow([escapeFormula(doc.meta.title)]);
  info.addRow(['period', doc.meta.period]);
  info.addRow(['key', doc.meta.key]);
  info.addRow(['from', doc.meta.from]);
  info.addRow(['to', doc.meta.to]);
  info.addRow(['generatedAt', doc.meta.generatedAt]);
  for (const s of doc.sections) {
    const ws = wb.addWorksheet(sheetName(s.title, used));
    if (s.note) ws.addRow([escapeFormula(s.note)]);
    for (const t of s.tables) {
      ws.addRow([escapeFormula(t.title)]).font = { bold: true };
      ws.addRow(t.columns.map((c) => escapeFormula(header(c)))).font = { bold: true };
      for (const r of t.rows) {
        ws.addRow(
          t.columns.map((c) => {
            const v = r[c.key];
            if (v === null || v === undefined) return null;
            if (c.type === 'number' && typeof v === 'number') return v;
            return escapeFormula(String(v));
          }),
        );
      }
      ws.addRow([]);
    }
    ws.columns.forEach((col) => {
      col.width = 16;
    });
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** Reads an XLSX written by `renderXlsx` back into tables per sheet (title → header → rows). */
export async function readXlsxTables(
  buf: Buffer,
): Promise<Map<string, { title: string; header: string[]; rows: (string | number | null)[][] }[]>> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(buf as unknown as ArrayBuffer);
  const out = new Map<string, { title: string; header: string[]; rows: (string | number | null)[][] }[]>();
  wb.eachSheet((ws) => {
    const tables: { title: string; header: string[]; rows: (string | number | null)[][] }[] = [];
    let cur: (typeof tables)[number] | null = null;
    let expectHeader = false;
    ws.eachRow({ includeEmpty: true }, (row) => {
      const vals = (row.values as unknown[])
        .slice(1)
        .map((v) => (v === undefined ? null : (v as string | number | null)));
      if (!vals.length || vals.every((v) => v === null)) {
        cur = null;
        return;
      }
      if (row.font?.bold && !cur && !expectHeader) {
        cur = { title: String(vals[0]), header: [], rows: [] };
        tables.push(cur);
        expectHeader = true;
        return;
      }
      if (expectHeader && cur) {
        (cur as { header: string[] }).header = vals.map(String);
        expectHeader = false;
        return;
      }
      if (cur) (cur as { rows: unknown[][] }).rows.push(vals);
    });
    out.set(ws.name, tables);
  });
  return out;
}

export async function renderAll(doc: LocalDoc, formats: readonly Format[]): Promise<Map<Format, Buffer>> {
  const out = new Map<Format, Buffer>();
  const needCharts = formats.includes('html') || formats.includes('pdf');
  const svgs = needCharts ? renderCharts(doc) : new Map<string, string>();
  for (const f of formats) {
    if (f === 'json') out.set(f, Buffer.from(JSON.stringify(doc)));
    else if (f === 'html') out.set(f, Buffer.from(renderHtml(doc, svgs)));
    else if (f === 'pdf') out.set(f, await renderPdf(doc, svgs));
    else out.set(f, await renderXlsx(doc));
  }
  return out;
}
