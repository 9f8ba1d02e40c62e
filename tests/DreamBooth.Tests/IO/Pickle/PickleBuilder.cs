using System.Buffers.Binary;
using System.Text;

namespace DreamBooth.Tests.IO.Pickle;

/// <summary>
/// Writes pickle opcodes byte by byte (protocol 2–5 binary opcodes), for building test checkpoints — valid ones the way
/// <c>torch.save</c> writes them, and hostile ones (<c>os.system</c>, <c>builtins.eval</c>, NEWOBJ…).
/// </summary>
public sealed class PickleBuilder
{
    private readonly MemoryStream _bytes = new();

    public PickleBuilder Op(byte op)
    {
        _bytes.WriteByte(op);
        return this;
    }

    public PickleBuilder Raw(params byte[] bytes)
    {
        _bytes.Write(bytes);
        return this;
    }

    public PickleBuilder Proto(byte version = 2) => Op(0x80).Op(version);
    public PickleBuilder Stop() => Op((byte)'.');
    public PickleBuilder Mark() => Op((byte)'(');
    public PickleBuilder Tuple() => Op((byte)'t');
    public PickleBuilder EmptyTuple() => Op((byte)')');
    public PickleBuilder EmptyDict() => Op((byte)'}');
    public PickleBuilder EmptyList() => Op((byte)']');
    public PickleBuilder SetItem() => Op((byte)'s');
    public PickleBuilder SetItems() => Op((byte)'u');
    public PickleBuilder Append() => Op((byte)'a');
    public PickleBuilder Appends() => Op((byte)'e');
    public PickleBuilder Reduce() => Op((byte)'R');
    public PickleBuilder Build() => Op((byte)'b');
    public PickleBuilder BinPersId() => Op((byte)'Q');
    public PickleBuilder None() => Op((byte)'N');
    public PickleBuilder Bool(bool v) => Op(v ? (byte)0x88 : (byte)0x89);
    public PickleBuilder BinPut(byte index) => Op((byte)'q').Op(index);
    public PickleBuilder BinGet(byte index) => Op((byte)'h').Op(index);
    public PickleBuilder Memoize() => Op(0x94);

    /// <summary>GLOBAL: <c>c</c> "module\nname\n" (protocols 0–3).</summary>
    public PickleBuilder Global(string module, string name) => Op((byte)'c').Raw(Encoding.UTF8.GetBytes($"{module}\n{name}\n"));

    /// <summary>STACK_GLOBAL (protocol 4+): module and name strings on the stack.</summary>
    public PickleBuilder StackGlobal(string module, string name) => Str(module).Str(name).Op(0x93);

    /// <summary>An integer: BININT1, BININT2, BININT or LONG1, as Python picks.</summary>
    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Op((byte)'K').Op((byte)v);
        if (v is >= 0 and < 65536) return Op((byte)'M').Raw((byte)v, (byte)(v >> 8));
        if (v is >= int.MinValue and <= int.MaxValue)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            return Op((byte)'J').Raw(b);
        }
        var bytes = new System.Numerics.BigInteger(v).ToByteArray();
        return Op(0x8a).Op((byte)bytes.Length).Raw(bytes);
    }

    /// <summary>A str: SHORT_BINUNICODE when short (protocol 4 style) or BINUNICODE.</summary>
    public PickleBuilder Str(string s, bool shortForm = false)
    {
        var b = Encoding.UTF8.GetBytes(s);
        if (shortForm && b.Length < 256) return Op(0x8c).Op((byte)b.Length).Raw(b);
        var len = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)b.Length);
        return Op((byte)'X').Raw(len).Raw(b);
    }

    /// <summary>A tuple of small integers (torch.Size / stride), with the TUPLEn opcodes Python uses for up to 3.</summary>
    public PickleBuilder IntTuple(IReadOnlyList<long> values)
    {
        if (values.Count == 0) return EmptyTuple();
        if (values.Count > 3) Mark();
        foreach (var v in values) Int(v);
        return values.Count switch
        {
            1 => Op(0x85),
            2 => Op(0x86),
            3 => Op(0x87),
            _ => Tuple(),
        };
    }

    public byte[] ToArray() => _bytes.ToArray();
}
