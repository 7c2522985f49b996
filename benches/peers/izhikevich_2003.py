"""Izhikevich's (2003) network in his own code (his Matlab, in numpy), as the reference of
networks/izhikevich.toml: mean firing rate over 5 seeds.

Usage: python benches/peers/izhikevich_2003.py   (needs numpy)
"""
import numpy as np
rates=[]
for seed in range(5):
    rng=np.random.default_rng(seed)
    Ne,Ni=800,200
    re=rng.random(Ne); ri=rng.random(Ni)
    a=np.r_[0.02*np.ones(Ne),0.02+0.08*ri]; b=np.r_[0.2*np.ones(Ne),0.25-0.05*ri]
    c=np.r_[-65+15*re**2,-65*np.ones(Ni)]; d=np.r_[8-6*re**2,2*np.ones(Ni)]
    S=np.c_[0.5*rng.random((Ne+Ni,Ne)),-rng.random((Ne+Ni,Ni))]
    v=-65*np.ones(Ne+Ni); u=b*v; n=0
    for t in range(1000):
        I=np.r_[5*rng.standard_normal(Ne),2*rng.standard_normal(Ni)]
        fired=np.where(v>=30)[0]; n+=len(fired)
        v[fired]=c[fired]; u[fired]+=d[fired]
        I+=S[:,fired].sum(axis=1)
        v+=0.5*(0.04*v**2+5*v+140-u+I); v+=0.5*(0.04*v**2+5*v+140-u+I)
        u+=a*(b*v-u)
    rates.append(n/1000.0)
print("Izhikevich's code (numpy), rate per neuron over 1 s, 5 seeds:", rates, np.mean(rates))
