# bench/clients/ruby_compare.gp: the plot of bench/clients/run.
#   gnuplot -e "datafile='summary.dat'; outfile='ruby_compare.png'" ruby_compare.gp
# datafile: index, "label", median ratio to SELECT 1, its lowest and highest
# over the rounds, median µs (written by ruby_compare.rb).  One bar per
# operation, the time of one operation as a multiple of the round trip of
# SELECT 1 over the same kind of connection, on a log scale; the line at 1
# is that floor.  The last three bars are per request of 100 renders.
if (!exists("datafile")) datafile = 'ruby_compare.dat'
if (!exists("outfile")) outfile = 'ruby_compare.png'
set terminal pngcairo noenhanced size 1000,600 font 'DejaVu Sans,10'
set output outfile
set title "Time per operation from Ruby, as a multiple of a SELECT 1 round trip (median of the rounds; bars: their range)"
set logscale y
# room for the labels above the highest bar, and for the titles above them
stats datafile using 4 name "LO" nooutput
stats datafile using 5 name "HI" nooutput
set yrange [LO_min / 2 : HI_max * 20]
set ylabel "x SELECT 1 (log scale)"
set grid ytics
set style fill solid 0.6 border -1
set boxwidth 0.6
set xrange [-0.6:9.6]
set xtics nomirror font ',9'
set arrow from 6.5, graph 0 to 6.5, graph 1 nohead dashtype 2
set label "per render" at 3, graph 0.96 center
set label "per request of 100 renders" at 8, graph 0.96 center
set key off
set bmargin 4
# the floor
set arrow from graph 0, first 1 to graph 1, first 1 nohead linewidth 1.5 linecolor rgb "#888888"
plot datafile using 1:3:xtic(2) with boxes linecolor rgb "#4a7ab5", \
     '' using 1:4:(0):($5 - $4) with vectors nohead linecolor rgb "black", \
     '' using 1:5:(sprintf("%.2fx\n%.1f µs", $3, $6)) with labels offset 0,1.6 font ',8'
