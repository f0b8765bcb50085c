#define _XOPEN_SOURCE_EXTENDED 1
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <ncursesw/curses.h>

/* Mouse masks are macros of macros, which Swift does not import: expose them as functions. */
static inline mmask_t medseg_button1_pressed(void) { return BUTTON1_PRESSED; }
static inline mmask_t medseg_button1_released(void) { return BUTTON1_RELEASED; }
static inline mmask_t medseg_button1_clicked(void) { return BUTTON1_CLICKED; }
static inline mmask_t medseg_button4_pressed(void) { return BUTTON4_PRESSED; }
static inline mmask_t medseg_button5_pressed(void) { return BUTTON5_PRESSED; }
static inline mmask_t medseg_report_position(void) { return REPORT_MOUSE_POSITION; }
static inline mmask_t medseg_all_mouse_events(void) { return ALL_MOUSE_EVENTS; }
