#!/bin/bash
# Call E (session 9, issue 8), one H100: call D again with one change, every train message random letters
# (in call D both variants wrote English-looking words from a word prior in place of the lookup: looked up 6.5%
# image, 5.5% text). The change was CryptogramTask's default nonwords = 1 at commit 3528938, where this ran; the
# next commit set it back to 0.5 (E was worse), so rerun this from that commit's tree (git archive 3528938).
exec bash "$(dirname "$0")/callD.sh"
