//! The exposition a scrape gets: OpenMetrics 1.0 when its `Accept` asks for it (Prometheus
//! does), otherwise the Prometheus text format 0.0.4 (curl, older scrapers), as the Prometheus
//! project's own client libraries negotiate.

use axum::http::HeaderMap;
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;

pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub(crate) const PROMETHEUS_TEXT: &str = prometheus_text::CONTENT_TYPE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenMetrics,
    PrometheusText,
}

impl Format {
    /// The format `headers` accept: OpenMetrics if any `Accept` value names it.
    pub fn accepted(headers: &HeaderMap) -> Format {
        let openmetrics = headers
            .get_all(axum::http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|range| {
                let mut params = range.split(';').map(str::trim);
                let named = params
                    .next()
                    .is_some_and(|t| t.eq_ignore_ascii_case("application/openmetrics-text"));
                // `q=0` means "not this one".
                named && !params.any(refuses)
            });
        if openmetrics {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::PrometheusText => PROMETHEUS_TEXT,
        }
    }
}

/// A media range parameter that refuses the range: a quality of zero.
fn refuses(param: &str) -> bool {
    param
        .strip_prefix("q=")
        .and_then(|q| q.trim().parse::<f64>().ok())
        .is_some_and(|q| q == 0.0)
}

/// `registry` in `format`.
pub(crate) fn render(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(4096);
    match format {
        Format::OpenMetrics => text::encode(&mut out, registry)?,
        Format::PrometheusText => prometheus_text::encode(&mut out, registry)?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accepting(values: &[&str]) -> Format {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                axum::http::header::ACCEPT,
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Format::accepted(&h)
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        assert_eq!(accepting(&[]), Format::PrometheusText);
        assert_eq!(accepting(&["*/*"]), Format::PrometheusText);
        assert_eq!(
            accepting(&["text/plain;version=0.0.4;q=0.3,*/*;q=0.2"]),
            Format::PrometheusText
        );
        // What Prometheus sends.
        assert_eq!(
            accepting(&["application/openmetrics-text;version=1.0.0;q=0.5,\
                 application/openmetrics-text;version=0.0.1;q=0.4,\
                 text/plain;version=0.0.4;q=0.3,*/*;q=0.2"]),
            Format::OpenMetrics
        );
        assert_eq!(
            accepting(&["text/plain", "Application/OpenMetrics-Text"]),
            Format::OpenMetrics
        );
        assert_eq!(
            accepting(&["application/openmetrics-text; q=0.0, text/plain"]),
            Format::PrometheusText
        );
    }
}
