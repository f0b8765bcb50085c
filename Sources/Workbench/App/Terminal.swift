// The only file that talks to ncurses: terminal modes, keys and mouse in, frames out.
// ncurses owns input (key decoding, mouse, resize); frames are escape sequences made by
// Render.ANSI and written straight to the terminal, so true color works on any ncurses.
import CNcurses
import Foundation
import Render

final class Terminal {
    private(set) var isOpen = false

    init() {}

    /// Fails with a clear message when standard input and output are not a terminal.
    static func requireTTY() throws {
        guard isatty(0) == 1, isatty(1) == 1 else { throw CLIError("medseg open needs a terminal (stdin and stdout must be a tty)") }
    }

    /// Enters full-screen mode. Fails with a clear message when there is no terminal.
    func open() throws {
        try Terminal.requireTTY()
        setlocale(LC_ALL, "")
        guard initscr() != nil else { throw CLIError("cannot initialise the terminal (TERM=\(ProcessInfo.processInfo.environment["TERM"] ?? "unset"))") }
        isOpen = true
        raw()
        noecho()
        keypad(stdscr, true)
        // Home and End as terminals send them whatever TERM says (PuTTY, tmux, rxvt, xterm's
        // two modes): without these, ESC [ 1 ~ read as Esc, then `[` (previous slice), ...
        for (sequence, key) in [("\u{1B}[1~", KEY_HOME), ("\u{1B}[4~", KEY_END), ("\u{1B}[7~", KEY_HOME), ("\u{1B}[8~", KEY_END),
                                ("\u{1B}[H", KEY_HOME), ("\u{1B}[F", KEY_END), ("\u{1B}OH", KEY_HOME), ("\u{1B}OF", KEY_END)] {
            define_key(sequence, key)
        }
        set_escdelay(25)
        curs_set(0)
        mouseinterval(0)
        mousemask(medseg_all_mouse_events() | medseg_report_position(), nil)
        refresh()
        write("\u{1B}[?1002h")   // report motion while a button is held (dragging a box)
    }

    /// Drops the keys typed before now (typed ahead while the program started).
    func discardTypeahead() { flushinp() }

    func close() {
        guard isOpen else { return }
        write("\u{1B}[?1002l\u{1B}[0m")
        endwin()
        isOpen = false
    }

    var size: (cols: Int, rows: Int) { (Int(COLS), Int(LINES)) }

    /// Colors the terminal declares in terminfo.
    var terminfoColors: Int { Int(tigetnum("colors")) }

    /// After a resize ncurses repaints its own (blank) screen; the next frame must be complete.
    func resetAfterResize() {
        clearok(stdscr, true)
        refresh()
    }

    /// Writes bytes straight to the terminal.
    func write(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.write(1, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { if errno == EINTR { continue }; return }
            off += n
        }
        bytes.removeAll()
    }

    /// Waits up to `timeoutMs` for input; returns every action available.
    func read(timeoutMs: Int32) -> [Action] {
        var out: [Action] = []
        timeout(timeoutMs)
        while true {
            var ch: wint_t = 0
            let r = get_wch(&ch)
            if r == ERR { break }
            if let a = decode(r, Int32(ch)) { out.append(a) }
            timeout(0)
        }
        return out
    }

    private func decode(_ kind: Int32, _ c: Int32) -> Action? {
        if kind == KEY_CODE_YES {
            switch c {
            case KEY_UP: return .key(.up)
            case KEY_DOWN: return .key(.down)
            case KEY_LEFT: return .key(.left)
            case KEY_RIGHT: return .key(.right)
            case KEY_SR: return .key(.shiftUp)
            case KEY_SF: return .key(.shiftDown)
            case KEY_SLEFT: return .key(.shiftLeft)
            case KEY_SRIGHT: return .key(.shiftRight)
            case KEY_NPAGE: return .key(.pageDown)
            case KEY_PPAGE: return .key(.pageUp)
            case KEY_HOME: return .key(.home)
            case KEY_END: return .key(.end)
            case KEY_ENTER: return .key(.enter)
            case KEY_BACKSPACE: return .key(.backspace)
            case KEY_DC: return .key(.delete)
            case KEY_BTAB: return .key(.backTab)
            case KEY_RESIZE: return .resize(cols: Int(COLS), rows: Int(LINES))
            case KEY_MOUSE: return mouse()
            default: return nil
            }
        }
        switch c {
        case 10, 13: return .key(.enter)
        case 27: return .key(.escape)
        case 9: return .key(.tab)
        case 8, 127: return .key(.backspace)
        case 1...26: return .key(.ctrl(Character(UnicodeScalar(UInt8(c) + 96))))
        default:
            guard let u = UnicodeScalar(UInt32(bitPattern: c)) else { return nil }
            return .key(.char(Character(u)))
        }
    }

    private func mouse() -> Action? {
        var e = MEVENT()
        guard getmouse(&e) == OK else { return nil }
        let (col, row) = (Int(e.x), Int(e.y))
        let b = e.bstate
        if b & medseg_button4_pressed() != 0 { return .mouse(.wheelUp, col: col, row: row) }
        if b & medseg_button5_pressed() != 0 { return .mouse(.wheelDown, col: col, row: row) }
        if b & medseg_button1_pressed() != 0 { return .mouse(.press, col: col, row: row) }
        if b & medseg_button1_released() != 0 { return .mouse(.release, col: col, row: row) }
        if b & medseg_button1_clicked() != 0 { return .mouse(.release, col: col, row: row) }
        if b & medseg_report_position() != 0 { return .mouse(.drag, col: col, row: row) }
        return nil
    }
}
