//! The demo's screen on a terminal: one table of every stream, redrawn in place (as
//! `top` does) with ratatui over crossterm, so nothing scrolls and nothing wraps.
//!
//! Long errors are cut to their column, ending in `…`; the full text of the selected
//! stream's error is one keypress away (Enter), and in `/status` as always. Keys:
//! ↑/↓ (or k/j) select a stream, Enter shows or hides its full error, q, Esc or Ctrl-C
//! quit (the terminal is in raw mode, so Ctrl-C arrives as a key). The terminal is
//! restored on every way out, panics included (ratatui's init installs the hook).

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState, Wrap};
use ratatui::{DefaultTerminal, Frame};
use trawl_engine::status::{StreamState, StreamStatus};
use trawl_engine::Engine;
use trawl_sim::SimHandle;

use super::Totals;

/// Widths of the columns before the error: tenant, source, state, pages, events, 429s, lag.
const WIDTHS: [u16; 7] = [10, 26, 12, 7, 8, 5, 8];

/// Runs the screen until a quit key, a signal or `run_for` seconds.
pub(super) async fn run(
    engine: &Engine,
    sim: &SimHandle,
    run_for: Option<u64>,
) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, engine, sim, run_for).await;
    ratatui::restore();
    result
}

struct View {
    table: TableState,
    detail: bool,
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    engine: &Engine,
    sim: &SimHandle,
    run_for: Option<u64>,
) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let mut events = EventStream::new();
    let mut view = View {
        table: TableState::default().with_selected(Some(0)),
        detail: false,
    };
    let stop = crate::run::shutdown_signal();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let rows = engine.status.snapshot();
        let totals = Totals::of(&rows, sim);
        let elapsed = started.elapsed().as_secs();
        terminal.draw(|f| draw(f, &rows, &totals, elapsed, &mut view))?;
        if run_for.is_some_and(|s| elapsed >= s) {
            return Ok(());
        }
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tick.tick() => {}
            e = events.next() => match e {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => {
                    let n = rows.len();
                    match k.code {
                        KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
                        KeyCode::Down | KeyCode::Char('j') if n > 0 => {
                            let i = view.table.selected().map_or(0, |i| (i + 1) % n);
                            view.table.select(Some(i));
                        }
                        KeyCode::Up | KeyCode::Char('k') if n > 0 => {
                            let i = view.table.selected().map_or(0, |i| (i + n - 1) % n);
                            view.table.select(Some(i));
                        }
                        KeyCode::Enter | KeyCode::Char('e') => view.detail = !view.detail,
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}

/// `text` cut to `width` characters, ending in `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn state_style(s: StreamState) -> Style {
    match s {
        StreamState::Live => Style::default().fg(Color::Green),
        StreamState::Backfilling | StreamState::Starting => Style::default().fg(Color::Cyan),
        StreamState::BackingOff => Style::default().fg(Color::Yellow),
        StreamState::Failed => Style::default().fg(Color::Red),
        StreamState::Disabled => Style::default().fg(Color::DarkGray),
    }
}

fn draw(f: &mut Frame, rows: &[StreamStatus], totals: &Totals, elapsed: u64, view: &mut View) {
    let detail_height = if view.detail { 7 } else { 1 };
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(detail_height),
    ])
    .areas(f.area());
    f.render_widget(
        Paragraph::new(vec![
            Line::from(format!("trawl demo, {elapsed}s"))
                .style(Style::default().add_modifier(Modifier::BOLD)),
            Line::from(totals.line()),
        ]),
        head,
    );
    let fixed: u16 = WIDTHS.iter().sum::<u16>() + WIDTHS.len() as u16;
    let err_width = usize::from(body.width.saturating_sub(fixed + 2)).max(8);
    let table_rows = rows.iter().map(|r| {
        let lag = r.lag_seconds.map_or("-".to_string(), |l| format!("{l}s"));
        Row::new(vec![
            r.tenant.clone().into(),
            r.source.clone().into(),
            Line::from(r.state.as_str()).style(state_style(r.state)),
            format!("{:>7}", r.pages).into(),
            format!("{:>8}", r.events).into(),
            format!("{:>5}", r.rate_limited).into(),
            format!("{lag:>8}").into(),
            cut(r.last_error.as_deref().unwrap_or(""), err_width).into(),
        ])
    });
    let mut widths: Vec<Constraint> = WIDTHS.iter().map(|w| Constraint::Length(*w)).collect();
    widths.push(Constraint::Fill(1));
    let header = Row::new([
        "tenant",
        "source",
        "state",
        "pages",
        "events",
        "429s",
        "lag",
        "last error",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(table_rows, widths)
        .header(header)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_stateful_widget(table, body, &mut view.table);
    let selected = view.table.selected().and_then(|i| rows.get(i));
    if view.detail {
        let (title, text) = match selected {
            Some(r) => (
                format!(" {} {}: last error ", r.tenant, r.source),
                r.last_error.clone().unwrap_or_else(|| "(none)".into()),
            ),
            None => (" last error ".into(), "(no stream selected)".into()),
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: false })
                .block(Block::default().borders(Borders::TOP).title(title)),
            foot,
        );
    } else {
        f.render_widget(
            Paragraph::new("↑/↓ select · Enter full error · q quit")
                .style(Style::default().fg(Color::DarkGray)),
            foot,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_with_an_ellipsis() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("a much longer error", 8), "a much …");
        assert_eq!(cut("é".repeat(20).as_str(), 5).chars().count(), 5);
    }
}
