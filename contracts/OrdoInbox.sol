// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title OrdoInbox: the forced-inclusion queue of an ordo chain.
/// @notice Anyone may queue a transaction for a namespace. Every ordo validator reads the
/// `Enqueued` events of finalized L1 blocks, and a batch is invalid unless it carries every entry
/// that is due (queued at least `inclusion_delay` L1 blocks before the batch's L1 reference), in
/// queue order, before any ordinary transaction. See docs/ARCHITECTURE.md, "Forced inclusion".
/// @dev The queue is append-only: an entry is never changed or removed. Each entry's hash is
/// stored so that a contract can later prove what the queue held.
contract OrdoInbox {
    /// @notice Most bytes of one payload. Set at deployment from the chain's limits, so that
    /// every queued entry is one the validators can order.
    uint32 public immutable maxPayload;
    /// @notice Wei each entry costs, at least. It stays in this contract: a spam bound, not
    /// revenue.
    uint256 public immutable fee;
    /// @notice Index the next entry gets; equal to the number of entries.
    uint64 public nextIndex;
    /// @notice keccak256(abi.encodePacked(index, l1Block, namespace, sender, payload)) per entry.
    mapping(uint64 => bytes32) public entryHash;

    /// @notice One queued entry, in full: validators rebuild the forced transaction from it.
    event Enqueued(
        uint64 indexed queueIndex,
        uint64 indexed namespace,
        address indexed sender,
        uint64 l1Block,
        bytes payload
    );

    error EmptyPayload();
    error PayloadTooLarge(uint256 size, uint256 max);
    error FeeTooLow(uint256 paid, uint256 fee);

    constructor(uint32 maxPayload_, uint256 fee_) {
        maxPayload = maxPayload_;
        fee = fee_;
    }

    /// @notice Queues `payload` for `namespace`; returns its queue index.
    function enqueue(uint64 namespace, bytes calldata payload) external payable returns (uint64) {
        if (payload.length == 0) revert EmptyPayload();
        if (payload.length > maxPayload) revert PayloadTooLarge(payload.length, maxPayload);
        if (msg.value < fee) revert FeeTooLow(msg.value, fee);
        uint64 index = nextIndex;
        uint64 l1Block = uint64(block.number);
        nextIndex = index + 1;
        entryHash[index] = keccak256(abi.encodePacked(index, l1Block, namespace, msg.sender, payload));
        emit Enqueued(index, namespace, msg.sender, l1Block, payload);
        return index;
    }
}
