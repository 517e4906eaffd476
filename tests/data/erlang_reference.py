#!/usr/bin/env python3
"""Reference values for tests/staffing.rs, computed independently of src/staffing.rs.

Erlang C: exact rational arithmetic (fractions) on the textbook formula
    C(n, a) = (a^n/n! * n/(n-a)) / (sum_{k<n} a^k/k! + a^n/n! * n/(n-a)),
then 60-digit decimals for the exponential in P(W <= t) = 1 - C e^{-(n-a) t / aht}.

Erlang A (M/M/n+M): the birth-death stationary distribution summed term by term at 60 digits
(no closed forms shared with the Rust code):
    P(wait) = sum_{k>=n} pi_k,  P(abandon) = theta * E[Q] / lambda,
    P(answered within t) = P(N < n) + sum_j pi_{n+j} * c/(c+(j+1)theta) * I_u(j+1, c/theta + 1),
with c = n mu, u = 1 - e^{-theta t} and, for integer a, I_x(a, b) = 1 - (1-x)^b sum_{k<a} (b)_k x^k / k!.

Run once: python3 tests/data/erlang_reference.py > tests/data/erlang_reference.csv
"""
from decimal import Decimal as D, getcontext
from fractions import Fraction as F

getcontext().prec = 60


def erlang_c_exact(n, a):
    a = F(a)
    term = F(1)
    s = F(0)
    for k in range(n):
        s += term
        term = term * a / (k + 1)
    top = term * n / (n - a)  # a^n/n! * n/(n-a)
    return top / (s + top)


def dec(fr):
    return D(fr.numerator) / D(fr.denominator)


def erlang_c_rows():
    # (servers, load in Erlangs as a fraction, aht seconds, threshold seconds)
    cases = [
        (1, F(1, 2), 60, 10),
        (2, F(1), 60, 10),
        (10, F(8), 180, 20),
        (14, F(10), 180, 20),
        (13, F(10), 180, 20),
        (50, F(45), 240, 30),
        (100, F(90), 300, 20),
        (500, F(480), 300, 20),
        (1000, F(960), 300, 30),
        (5000, F(4900), 300, 30),
    ]
    for n, a, aht, t in cases:
        c = erlang_c_exact(n, a)
        cd = dec(c)
        asa = cd * aht / dec(n - a)
        sl = 1 - cd * (-(dec(n - a)) * D(t) / D(aht)).exp()
        print(f"erlang_c,{n},{a.numerator}/{a.denominator},{aht},{t},0,{cd:.15e},{asa:.15e},{sl:.15e},0,0")


def erlang_a_row(n, lam, aht, patience, t):
    lam, mu, theta = D(lam), 1 / D(aht), 1 / D(patience)
    c = n * mu
    # unnormalised pi_k, pi_0 = 1
    pis = [D(1)]
    for k in range(1, n + 1):
        pis.append(pis[-1] * lam / (k * mu))
    below = sum(pis[:-1])  # k < n
    q = [pis[-1]]  # pi_{n+j}
    j = 0
    while True:
        j += 1
        q.append(q[-1] * lam / (c + j * theta))
        if c + j * theta > lam and q[-1] < sum(q) * D(10) ** -40:
            break
    total = below + sum(q)
    p_wait = sum(q) / total
    eq = sum(D(i) * x for i, x in enumerate(q)) / total
    p_ab = theta * eq / lam
    u = 1 - (-theta * D(t)).exp()
    b = c / theta + 1
    served_within = D(0)
    for jj, x in enumerate(q):
        a_ = jj + 1
        # I_u(a_, b) = 1 - (1-u)^b sum_{k<a_} (b)_k u^k / k!
        s = D(0)
        term = D(1)
        for k in range(a_):
            s += term
            term = term * (b + k) * u / (k + 1)
        inc = 1 - (1 - u) ** b * s
        served_within += x / total * c / (c + a_ * theta) * inc
    answered_within = below / total + served_within
    avg_wait_all = eq / lam
    print(f"erlang_a,{n},{lam},{aht},{t},{patience},{p_wait:.15e},{avg_wait_all:.15e},{answered_within:.15e},{p_ab:.15e},0")


if __name__ == "__main__":
    print("model,servers,load_or_rate,aht_secs,t_secs,patience_secs,p_wait,asa_or_avg_wait_secs,answered_within,p_abandon,unused")
    erlang_c_rows()
    # (servers, arrivals per second, aht, patience, threshold)
    for n, lam, aht, pat, t in [
        (5, "0.02", 200, 120, 20),
        (10, "0.05", 180, 60, 20),
        (12, "0.0625", 180, 300, 30),
        (20, "0.2", 120, 90, 15),
        (50, "0.5", 120, 60, 20),
        (40, "0.5", 120, 60, 20),
    ]:
        erlang_a_row(n, lam, aht, pat, t)
