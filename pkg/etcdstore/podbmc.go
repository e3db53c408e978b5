package etcdstore

import "github.com/podboot/podboot/pkg/podmgr"

func (x *recordTx) PodBMC(pod string) (podmgr.PodBMC, bool, error) {
	return getRecord[podmgr.PodBMC](x.t, x.t.s.key(collPodBMCs, pod))
}

func (x *recordTx) EachPodBMC(fn func(podmgr.PodBMC) error) error {
	return eachRecord(x.t, x.t.s.dir(collPodBMCs), fn)
}

func (x *recordTx) PutPodBMC(b podmgr.PodBMC) error {
	return x.putRecord(x.t.s.key(collPodBMCs, b.Pod), b)
}

func (x *recordTx) DeletePodBMC(pod string) error {
	x.t.del(x.t.s.key(collPodBMCs, pod), x.t.s.dir(collPodBMCs))
	return nil
}
