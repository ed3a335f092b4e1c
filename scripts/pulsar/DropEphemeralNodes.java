// DropEphemeralNodes deletes the ephemeral nodes that a killed Pulsar
// standalone left in its RocksDB metadata store, as ZooKeeper would when the
// dead process's session expires. scripts/brokers.sh runs it, with the Pulsar
// jars on the class path, before it starts Pulsar again on existing data:
//
//	java -cp '.cache/brokers/pulsar-VERSION/lib/*' scripts/pulsar/DropEphemeralNodes.java METADATA_DIR
//
// Why: RocksDB keeps an ephemeral node (the bookie's /ledgers/available/<id>
// registration, the broker's own registration, bundle ownerships) across a
// SIGKILL. The restarted store deletes such a stale node lazily, when it next
// reads it, without waiting for the delete. The bookie registers at that
// moment, so its fresh registration lock sees the stale node's "deleted"
// notification, deletes and re-creates its own node, sees that deletion in
// turn, and so on forever: the bookie flaps between registered and not, and
// ledger creation fails with "Not enough non-faulty bookies available".
// Without stale nodes there is nothing to race with.
//
// It must only run while no Pulsar process has the store open (RocksDB's LOCK
// file would make it fail anyway). It prints each node it deletes.
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksIterator;
import org.rocksdb.TransactionDB;
import org.rocksdb.TransactionDBOptions;
import org.rocksdb.WriteOptions;

public class DropEphemeralNodes {
    // Layout of org.apache.pulsar.metadata.impl.RocksdbMetadataStore.MetaValue
    // (format version 1): int headerSize, int formatVersion, long version,
    // long owner, long created, long modified, byte ephemeral, then the data.
    private static final int EPHEMERAL_OFFSET = 4 + 4 + 8 + 8 + 8 + 8;

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: DropEphemeralNodes METADATA_DIR");
            System.exit(2);
        }
        RocksDB.loadLibrary();
        List<byte[]> stale = new ArrayList<>();
        try (Options options = new Options().setCreateIfMissing(false);
                TransactionDBOptions txOptions = new TransactionDBOptions();
                TransactionDB db = TransactionDB.open(options, txOptions, args[0]);
                WriteOptions sync = new WriteOptions().setSync(true)) {
            try (RocksIterator it = db.newIterator()) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    byte[] key = it.key();
                    // Nodes are keyed by path; the store's own counters are not.
                    if (key.length == 0 || key[0] != '/') {
                        continue;
                    }
                    ByteBuffer value = ByteBuffer.wrap(it.value());
                    if (value.remaining() <= EPHEMERAL_OFFSET) {
                        continue;
                    }
                    int headerSize = value.getInt(0);
                    int formatVersion = value.getInt(4);
                    if (formatVersion != 1 || headerSize <= EPHEMERAL_OFFSET) {
                        throw new IllegalStateException("unknown metadata format version " + formatVersion
                                + " at " + new String(key, StandardCharsets.UTF_8));
                    }
                    if (value.get(EPHEMERAL_OFFSET) != 0) {
                        stale.add(key);
                    }
                }
            }
            for (byte[] key : stale) {
                db.delete(sync, key);
                System.out.println("dropped stale ephemeral node " + new String(key, StandardCharsets.UTF_8));
            }
        }
    }
}
