//! Turning raw serial bytes into text a test can search.

/// Removes ANSI/VT100 escape sequences (CSI `ESC [ … final`, OSC, two-byte
/// `ESC x`) and carriage returns, so menus drawn with colours and cursor moves
/// can be matched as plain text.
pub fn strip_ansi(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            0x1b => {
                i += 1;
                match raw.get(i) {
                    Some(b'[') => {
                        i += 1;
                        // parameters and intermediates, then one final byte 0x40..=0x7e
                        while i < raw.len() && !(0x40..=0x7e).contains(&raw[i]) {
                            i += 1;
                        }
                        i += 1;
                    }
                    Some(b']') => {
                        while i < raw.len() && raw[i] != 0x07 && raw[i] != 0x1b {
                            i += 1;
                        }
                        i += 1;
                    }
                    Some(_) => i += 1,
                    None => {}
                }
            }
            b'\r' | 0 => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_menu_colours_and_cursor_moves() {
        // menu.c32 highlights the hotkey with an SGR sequence inside the label.
        let raw = b"\x1b[0;37;40mInstall on \x1b[1;37ms\x1b[0;37merial console\x1b[2;5H\r\n";
        assert_eq!(strip_ansi(raw), "Install on serial console\n");
    }

    #[test]
    fn keeps_plain_text_and_drops_osc() {
        assert_eq!(strip_ansi(b"a\x1b]0;title\x07b\x1b7c"), "abc");
        assert_eq!(strip_ansi(b"trailing\x1b["), "trailing");
    }
}
