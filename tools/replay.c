#include "archive_tool.h"
int replay_main(int argc, char **argv) { (void)argc; (void)argv; return 2; }
int explain_main(int argc, char **argv) { (void)argc; (void)argv; return 2; }
