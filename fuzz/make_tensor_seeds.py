# Writes the seed corpus of fuzz/tensor_view_fuzz.c: valid tensor frames
# (C and Fortran order, a slice, a scalar, an empty one, overlapping rows,
# page-aligned data) and one whose shape reaches past its data. Run:
#   python3 fuzz/make_tensor_seeds.py fuzz/corpus/tensor
import struct,os,sys
out=sys.argv[1]
def hdr(dtype,shape,strides,align=64,off=192,nbytes=None,frame=1,ts=2):
    nd=len(shape)
    if nbytes is None:
        far=sum((n-1)*s for n,s in zip(shape,strides))+ {1:1,2:1,3:1,6:4,11:4,12:8}[dtype] if all(shape) else 0
        nbytes=far
    h=struct.pack('<IHHBBHIQQQq16x',0x4e544853,1,192,dtype,nd,0,align,off,nbytes,frame,ts)
    h+=struct.pack('<8Q',*(list(shape)+[0]*(8-nd)))
    h+=struct.pack('<8q',*(list(strides)+[0]*(8-nd)))
    assert len(h)==192
    return h,off+nbytes
seeds={
 'c_order_u8': (3,[4,5,3],[15,3,1]),
 'fortran_f32': (11,[4,5],[4,16]),
 'slice_f32': (11,[4,5],[40,8]),
 'scalar_f64': (12,[],[]),
 'empty_f64': (12,[7,0],[8,8]),
 'alias_i32': (6,[3,4],[4,4]),
}
os.makedirs(out,exist_ok=True)
for name,(dt,sh,st) in seeds.items():
    h,total=hdr(dt,sh,st)
    data=bytes((i*7)&255 for i in range(total-192))
    open(os.path.join(out,name),'wb').write(h+data)
# aligned to 4096
h,total=hdr(3,[16],[1],align=4096,off=4096,nbytes=16)
open(os.path.join(out,'align_page'),'wb').write(h+b'\0'*(4096-192)+b'x'*16)
# broken: shape too big
h,total=hdr(6,[3,4],[16,4],nbytes=40)
open(os.path.join(out,'short_data'),'wb').write(h+b'\0'*40)
