#!/usr/bin/python3
# embed.py INPUT OUTPUT NAME: write OUTPUT, a C file defining
# `const unsigned char NAME[]` (INPUT's bytes, NUL-terminated) and
# `const size_t NAME_len` (without the NUL), so that a file kept in the
# repository (the operations page) is part of allotd with no hand-kept
# C string.
import sys

src, dst, name = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src, "rb").read()
lines = []
for i in range(0, len(data), 16):
    lines.append("\t" + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",")
with open(dst, "w") as f:
    f.write("/* Generated from %s by engine/http/embed.py: do not edit. */\n" % src.split("/")[-1])
    f.write("#include <stddef.h>\n\n")
    f.write("extern const unsigned char %s[];\nextern const size_t %s_len;\n\n" % (name, name))
    f.write("const unsigned char %s[] = {\n%s\n\t0x00,\n};\n" % (name, "\n".join(lines)))
    f.write("const size_t %s_len = %d;\n" % (name, len(data)))
