//! What colours the terminal can show, and a theme's colours brought down to that: `NO_COLOR`
//! (no-color.org) drops them, a 16-colour terminal gets the nearest of the 16 ANSI colours by
//! hue (so "approved" stays green, not the grey that is nearest by distance), a 256-colour one
//! the nearest of xterm's palette.

use ratatui::style::Color;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorSupport {
    #[default]
    TrueColor,
    Ansi256,
    Ansi16,
    /// `NO_COLOR` is set (or `TERM=dumb`): emphasis (bold, reverse) only.
    None,
}

impl ColorSupport {
    pub fn from_env() -> ColorSupport {
        let var = |k: &str| std::env::var(k).ok();
        ColorSupport::detect(
            var("NO_COLOR").as_deref(),
            var("COLORTERM").as_deref(),
            var("TERM").as_deref(),
        )
    }

    /// From the values of `NO_COLOR`, `COLORTERM` and `TERM`. NO_COLOR counts when it is set to
    /// anything but the empty string, as no-color.org says.
    pub fn detect(no_color: Option<&str>, colorterm: Option<&str>, term: Option<&str>) -> Self {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return ColorSupport::None;
        }
        let colorterm = colorterm.unwrap_or("").to_ascii_lowercase();
        let term = term.unwrap_or("").to_ascii_lowercase();
        if term == "dumb" {
            ColorSupport::None
        } else if matches!(colorterm.as_str(), "truecolor" | "24bit")
            || term.ends_with("-direct")
            || term.contains("truecolor")
        {
            ColorSupport::TrueColor
        } else if term.contains("256color") {
            ColorSupport::Ansi256
        } else if term.is_empty() && cfg!(windows) {
            // Windows terminals set no TERM and all render RGB.
            ColorSupport::TrueColor
        } else {
            ColorSupport::Ansi16
        }
    }

    /// `c` as this terminal can show it.
    pub fn map(self, c: Color) -> Color {
        match (self, c) {
            (ColorSupport::TrueColor, c) => c,
            (_, Color::Reset) | (ColorSupport::None, _) => Color::Reset,
            (ColorSupport::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(xterm_256(r, g, b)),
            (ColorSupport::Ansi256, c) => c,
            (ColorSupport::Ansi16, Color::Rgb(r, g, b)) => ansi_16(r, g, b),
            (ColorSupport::Ansi16, Color::Indexed(i)) if i >= 16 => {
                let (r, g, b) = xterm_rgb(i);
                ansi_16(r, g, b)
            }
            (ColorSupport::Ansi16, c) => c,
        }
    }
}

/// The ANSI colour with the same hue and about the same lightness; greys by lightness.
fn ansi_16(r: u8, g: u8, b: u8) -> Color {
    let (r, g, b) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let light = (max + min) / 2.0;
    let chroma = max - min;
    let sat = if chroma == 0.0 {
        0.0
    } else {
        chroma / (1.0 - (2.0 * light - 1.0).abs())
    };
    if sat < 0.2 || chroma < 0.08 {
        return match light {
            l if l < 0.25 => Color::Black,
            l if l < 0.6 => Color::DarkGray,
            l if l < 0.85 => Color::Gray,
            _ => Color::White,
        };
    }
    let hue = if max == r {
        60.0 * (((g - b) / chroma).rem_euclid(6.0))
    } else if max == g {
        60.0 * ((b - r) / chroma + 2.0)
    } else {
        60.0 * ((r - g) / chroma + 4.0)
    };
    let bright = light > 0.6;
    let pick = |dim: Color, lit: Color| if bright { lit } else { dim };
    match hue {
        h if !(30.0..330.0).contains(&h) => pick(Color::Red, Color::LightRed),
        h if h < 90.0 => pick(Color::Yellow, Color::LightYellow),
        h if h < 150.0 => pick(Color::Green, Color::LightGreen),
        h if h < 210.0 => pick(Color::Cyan, Color::LightCyan),
        h if h < 270.0 => pick(Color::Blue, Color::LightBlue),
        _ => pick(Color::Magenta, Color::LightMagenta),
    }
}

const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The nearest colour of xterm's 6×6×6 cube or grey ramp (indices 16–255).
fn xterm_256(r: u8, g: u8, b: u8) -> u8 {
    let level = |v: u8| {
        (0..6)
            .min_by_key(|&i| (CUBE[i] as i32 - v as i32).abs())
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let cube = 16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8;
    let avg = (r as u32 + g as u32 + b as u32) / 3;
    let grey_i = (avg.saturating_sub(3) / 10).min(23) as u8;
    let grey = 232 + grey_i;
    let dist = |(x, y, z): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (a as i32 - b as i32).pow(2);
        d(x, r) + d(y, g) + d(z, b)
    };
    if dist(xterm_rgb(grey)) < dist(xterm_rgb(cube)) {
        grey
    } else {
        cube
    }
}

/// The RGB of an xterm palette entry from 16 up.
fn xterm_rgb(i: u8) -> (u8, u8, u8) {
    if i >= 232 {
        let v = 8 + 10 * (i - 232);
        (v, v, v)
    } else {
        let i = i.saturating_sub(16);
        (
            CUBE[(i / 36) as usize],
            CUBE[(i / 6 % 6) as usize],
            CUBE[(i % 6) as usize],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_follows_no_color_colorterm_and_term() {
        use ColorSupport::*;
        let d = ColorSupport::detect;
        assert_eq!(
            d(Some("1"), Some("truecolor"), Some("xterm-256color")),
            None
        );
        // An empty NO_COLOR does not count.
        assert_eq!(d(Some(""), Some("truecolor"), Some("xterm")), TrueColor);
        assert_eq!(d(Option::None, Some("24bit"), Some("screen")), TrueColor);
        assert_eq!(
            d(Option::None, Option::None, Some("xterm-256color")),
            Ansi256
        );
        assert_eq!(
            d(Option::None, Option::None, Some("xterm-direct")),
            TrueColor
        );
        assert_eq!(d(Option::None, Option::None, Some("xterm")), Ansi16);
        assert_eq!(d(Option::None, Option::None, Some("linux")), Ansi16);
        assert_eq!(d(Option::None, Option::None, Some("dumb")), None);
    }

    #[test]
    fn sixteen_colours_keep_the_hue() {
        let m = |hex: u32| {
            ColorSupport::Ansi16.map(Color::Rgb((hex >> 16) as u8, (hex >> 8) as u8, hex as u8))
        };
        // The dark theme's approved, denied, pending, expired, accent, muted and text.
        assert_eq!(m(0xa3be8c), Color::LightGreen);
        assert_eq!(m(0xbf616a), Color::Red);
        assert_eq!(m(0xebcb8b), Color::LightYellow);
        assert_eq!(m(0xb48ead), Color::LightMagenta);
        assert_eq!(m(0x88c0d0), Color::LightCyan);
        assert_eq!(m(0x7b8394), Color::DarkGray);
        assert_eq!(m(0xd8dee9), Color::White);
        // The light theme's: dark hues stay dark.
        assert_eq!(m(0x1f7a1f), Color::Green);
        assert_eq!(m(0xb00020), Color::Red);
        assert_eq!(m(0x2e3440), Color::Black);
        // Named colours are already ANSI; indexed ones above 15 are brought down too.
        assert_eq!(ColorSupport::Ansi16.map(Color::LightCyan), Color::LightCyan);
        assert_eq!(ColorSupport::Ansi16.map(Color::Indexed(196)), Color::Red);
        assert_eq!(ColorSupport::None.map(Color::Red), Color::Reset);
    }

    #[test]
    fn two_hundred_fifty_six_colours_are_the_nearest_palette_entry() {
        let m = |r, g, b| ColorSupport::Ansi256.map(Color::Rgb(r, g, b));
        assert_eq!(m(255, 0, 0), Color::Indexed(196));
        assert_eq!(m(0x80, 0x80, 0x80), Color::Indexed(244));
        assert_eq!(m(0, 0, 0), Color::Indexed(16));
    }
}
