//! Server-rendered SVG charts: horizontal bars, one or two series stacked,
//! values written at the end of each bar (readable printed in black and
//! white: the second series is hatched, not only coloured). No script.

/// One bar: label and one value per series.
pub struct Bar {
    pub label: String,
    pub values: Vec<i64>,
}

/// A chart.
pub struct Chart<'a> {
    /// Accessible title (`<title>`, and `aria-labelledby`).
    pub title: &'a str,
    /// Element id prefix (unique in the page).
    pub id: &'a str,
    /// Series names (legend), one per value of a bar.
    pub series: &'a [&'a str],
    pub bars: Vec<Bar>,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const FILLS: [&str; 2] = ["#000091", "url(#hatch)"];
const LABEL_W: i64 = 340;
const BAR_W: i64 = 380;
const ROW_H: i64 = 26;

/// Render the chart as an inline `<svg>` element.
pub fn render(c: &Chart<'_>) -> String {
    let max = c
        .bars
        .iter()
        .map(|b| b.values.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let legend_h = if c.series.len() > 1 { 24 } else { 0 };
    let height = legend_h + ROW_H * c.bars.len().max(1) as i64 + 8;
    // Room on the right for the figures ("12 (8 + 4)").
    let width = LABEL_W + BAR_W + 150;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"graphique\" \
         aria-labelledby=\"{id}-titre\" viewBox=\"0 0 {width} {height}\" width=\"100%\" \
         style=\"max-width:{width}px\">\
         <title id=\"{id}-titre\">{title}</title>\
         <defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffffff\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#6a6af4\" stroke-width=\"4\"/>\
         </pattern></defs>",
        id = esc(c.id),
        title = esc(c.title),
    );
    if c.series.len() > 1 {
        let mut x = LABEL_W;
        for (i, name) in c.series.iter().enumerate() {
            s.push_str(&format!(
                "<rect x=\"{x}\" y=\"4\" width=\"14\" height=\"14\" fill=\"{}\" stroke=\"#161616\"/>\
                 <text x=\"{}\" y=\"16\" font-size=\"13\" fill=\"#161616\">{}</text>",
                FILLS[i % 2],
                x + 20,
                esc(name)
            ));
            x += 30 + 8 * name.chars().count() as i64;
        }
    }
    if c.bars.is_empty() {
        s.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\" fill=\"#161616\">Aucune donnée sur la période</text>",
            legend_h + 18
        ));
    }
    for (i, b) in c.bars.iter().enumerate() {
        let y = legend_h + i as i64 * ROW_H;
        let label: String = if b.label.chars().count() > 46 {
            b.label
                .chars()
                .take(45)
                .chain(std::iter::once('…'))
                .collect()
        } else {
            b.label.clone()
        };
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"end\" fill=\"#161616\">{}</text>",
            LABEL_W - 8,
            y + 17,
            esc(&label)
        ));
        let mut x = LABEL_W;
        for (j, v) in b.values.iter().enumerate() {
            let w = v * BAR_W / max;
            if w > 0 {
                s.push_str(&format!(
                    "<rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"18\" fill=\"{}\" stroke=\"#161616\" stroke-width=\"0.5\"/>",
                    y + 4,
                    FILLS[j % 2]
                ));
            }
            x += w;
        }
        let total: i64 = b.values.iter().sum();
        let detail = if b.values.len() > 1 {
            format!(
                " ({})",
                b.values
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(" + ")
            )
        } else {
            String::new()
        };
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"13\" fill=\"#161616\">{total}{detail}</text>",
            x + 6,
            y + 17
        ));
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg = render(&Chart {
            title: "Retours <à> l'emploi",
            id: "g1",
            series: &["Plateforme", "Conseiller"],
            bars: vec![
                Bar {
                    label: "CDI & co".into(),
                    values: vec![3, 1],
                },
                Bar {
                    label: "CDD".into(),
                    values: vec![2, 0],
                },
            ],
        });
        assert!(svg.contains("<title id=\"g1-titre\">Retours &lt;à&gt; l&#39;emploi</title>"));
        assert!(svg.contains("CDI &amp; co"));
        // 3 of 4 → 285 px, 1 of 4 → 95 px, 2 of 4 → 190 px.
        assert!(svg.contains("width=\"285\""));
        assert!(svg.contains("width=\"95\""));
        assert!(svg.contains("width=\"190\""));
        assert!(svg.contains(">4 (3 + 1)</text>"));
        assert!(!svg.contains("<script"));
    }
}
